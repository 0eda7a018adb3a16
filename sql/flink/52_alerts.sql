-- An alert is a change of an asset's level from the minute before, not every minute
-- the condition holds. Cooldown and hysteresis come with the scoring refinement.
CREATE TEMPORARY VIEW alerts AS
SELECT base, window_start, window_end, level, previous_level, risk, pressure, confidence, components
FROM (
  SELECT *, LAG(level) OVER (PARTITION BY base ORDER BY window_time) AS previous_level
  FROM risk_scores
)
WHERE level IS NOT NULL AND level IS DISTINCT FROM previous_level;
