-- Liquidation Risk per venue and asset and per asset over all venues ('all'), by the
-- vectorized Python UDF on the window rows only, in one call for both kinds of row.
-- Long-cascade and short-squeeze risk are scored separately; risk is the larger and side
-- says which (flink_jobs/scoring.py).
CREATE TEMPORARY VIEW scores AS
SELECT window_start, window_end, window_time, base, venue, data_age_s,
  LIQUIDATION_RISK(funding_8h, oi_change_pct, price_change_pct, long_share, liq_long_in,
                   liq_short_in, oi_usd, liq_baseline_usd) AS r
FROM score_inputs;

-- Joined with the same minute's market-wide stablecoin pressure. LEFT: a minute without
-- flow data keeps its risk row with pressure NULL (unknown), never a fake 0.
-- level_now: the instantaneous level (entry thresholds, no hysteresis), which venue rows
-- show; the all-venue row's level is the asset's alert state (52).
CREATE TEMPORARY VIEW risk_scores AS
SELECT *, ALERT_LEVEL(risk, pressure, confidence) AS level_now
FROM (
  SELECT
    s.window_start, s.window_end, s.window_time, s.base, s.venue,
    s.r.risk, s.r.side, s.r.long_risk, s.r.short_risk, s.r.funding_pts, s.r.oi_buildup_pts,
    s.r.imbalance_pts, s.r.liquidation_pts, s.r.confidence, s.r.components, s.data_age_s,
    p.pressure
  FROM scores AS s
  LEFT JOIN stablecoin_pressure AS p
    ON p.window_time BETWEEN s.window_time AND s.window_time
);
