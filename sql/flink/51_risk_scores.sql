-- Liquidation Risk per asset and minute (Python UDF on the window rows only), joined with
-- the same minute's market-wide stablecoin pressure. LEFT: a minute without flow data
-- keeps its risk row with pressure NULL (unknown), never a fake 0.
CREATE TEMPORARY VIEW risk_scores AS
SELECT
  a.window_start, a.window_end, a.window_time, a.base,
  a.r.risk, a.r.funding_pts, a.r.oi_buildup_pts, a.r.imbalance_pts, a.r.liquidation_pts,
  a.r.confidence, a.r.components,
  p.pressure,
  ALERT_LEVEL(a.r.risk, p.pressure, a.r.confidence) AS level
FROM (
  SELECT *,
    LIQUIDATION_RISK(funding_8h, oi_change_pct, price_change_pct, long_share, liq_usd,
                     oi_usd, liq_baseline_usd) AS r
  FROM asset_baseline
) AS a
LEFT JOIN stablecoin_pressure AS p
  ON p.window_time BETWEEN a.window_time AND a.window_time;
