-- A window without liquidations counts as a measured 0 only if the asset's liquidation feed
-- delivered anything within baseline_windows; otherwise the input is missing, not zero.
CREATE TEMPORARY VIEW asset_baseline AS
SELECT *,
  CASE WHEN liq_seen > 0 THEN COALESCE(liq_long_usd, 0) END AS liq_long_in,
  CASE WHEN liq_seen > 0 THEN COALESCE(liq_short_usd, 0) END AS liq_short_in
FROM (
  SELECT *, SUM(liq_count) OVER w AS liq_seen
  FROM asset_features
  WINDOW w AS (
    PARTITION BY base ORDER BY ${time_order}
    RANGE BETWEEN ${baseline_range} PRECEDING AND CURRENT ROW
  )
);
