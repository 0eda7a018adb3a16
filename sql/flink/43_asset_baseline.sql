-- Rolling per-asset liquidation baseline (both sides, all venues, per minute). A minute
-- without liquidations counts as 0 only if the asset's liquidation feed delivered anything
-- within the baseline; otherwise the input is missing, not zero.
CREATE TEMPORARY VIEW asset_baseline AS
SELECT *,
  CASE WHEN liq_seen > 0 THEN COALESCE(liq_long_usd, 0) END AS liq_long_in,
  CASE WHEN liq_seen > 0 THEN COALESCE(liq_short_usd, 0) END AS liq_short_in
FROM (
  SELECT *,
    SUM(liq_count) OVER w AS liq_seen,
    AVG(COALESCE(liq_long_usd, 0) + COALESCE(liq_short_usd, 0)) OVER w AS liq_baseline_usd
  FROM asset_features
  WINDOW w AS (
    PARTITION BY base ORDER BY window_time
    RANGE BETWEEN INTERVAL '${baseline_minutes}' MINUTE PRECEDING AND CURRENT ROW
  )
);
