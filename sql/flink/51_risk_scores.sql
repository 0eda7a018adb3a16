-- Liquidation Risk per venue and asset and per asset over all venues ('all'), by the
-- vectorized Python UDF on the window rows only: each signal and its history (47) in,
-- long-cascade and short-squeeze risk out; risk is the larger and side says which
-- (flink_jobs/scoring.py, docs/scoring.md).
CREATE TEMPORARY VIEW scores AS
SELECT *,
  LIQUIDATION_RISK(
    liq_long, liq_long_n, liq_long_sum, liq_long_sumsq,
    liq_short, liq_short_n, liq_short_sum, liq_short_sumsq,
    liq_long_recent, liq_long_recent_n, liq_long_recent_sum, liq_long_recent_sumsq,
    liq_short_recent, liq_short_recent_n, liq_short_recent_sum, liq_short_recent_sumsq,
    price, price_n, price_sum, price_sumsq,
    oi, oi_n, oi_sum, oi_sumsq,
    funding, funding_n, funding_sum, funding_sumsq,
    ls, ls_n, ls_sum, ls_sumsq,
    top_ls, top_ls_n, top_ls_sum, top_ls_sumsq,
    pressure, pressure_n, pressure_sum, pressure_sumsq) AS r
FROM score_history;

-- Component columns hold each component's signed contribution to the side's combined
-- score (NULL = not judged: input missing or history still warming up).
CREATE TEMPORARY VIEW risk_scores AS
SELECT
  window_start, window_end, window_time, window_minute, base, venue,
  r.risk, r.side, r.long_risk, r.short_risk, r.funding_pts, r.oi_buildup_pts,
  r.imbalance_pts, r.liquidations_pts AS liquidation_pts,
  r.liquidations_recent_pts AS liquidation_recent_pts, r.price_move_pts,
  r.top_imbalance_pts, r.pressure_pts, r.confidence, r.components, data_age_s,
  pressure_value AS pressure
FROM scores;
