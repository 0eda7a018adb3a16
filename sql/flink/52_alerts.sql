-- The alert state of each asset, from its all-venue rows only. ALERT_TRANSITION (a pandas
-- UDAF) replays the state machine of flink_jobs/scoring.py (hysteresis, cooldown, thin
-- data frozen) over the asset's last alerts.state_windows rows and returns
-- '<level>|<previous level>': the same rows always give the same answer, so a replay or a
-- restart from scratch writes the same alerts.
CREATE TEMPORARY VIEW asset_alert_state AS
SELECT *,
  SPLIT_INDEX(st, '|', 0) AS state_level,
  SPLIT_INDEX(st, '|', 1) AS state_previous
FROM (
  SELECT *,
    ALERT_TRANSITION(window_start, risk, confidence) OVER (
      PARTITION BY base ORDER BY ${time_order}
      ROWS BETWEEN ${state_preceding} PRECEDING AND CURRENT ROW) AS st
  FROM risk_scores
  WHERE venue = 'all'
);

-- An alert is a change of the state; 'NONE' = back to no alert. alert_id is the
-- notifier's idempotency key: '<base>:<window start, ISO-8601 UTC>:<level>'.
CREATE TEMPORARY VIEW alerts AS
SELECT
  base || ':' || DATE_FORMAT(window_start, 'yyyy-MM-dd') || 'T'
    || DATE_FORMAT(window_start, 'HH:mm:ss') || 'Z:' || state_level AS alert_id,
  base, window_start, window_end, state_level AS level,
  CASE WHEN state_previous <> 'NONE' THEN state_previous END AS previous_level,
  side, risk, long_risk, short_risk, funding_pts, oi_buildup_pts, imbalance_pts,
  liquidation_pts, pressure, confidence, components
FROM asset_alert_state
WHERE state_level <> state_previous;
