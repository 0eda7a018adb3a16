-- Every input of a score row as a signal on a scale where "how unusual is this for this
-- asset" can be measured by a mean and a standard deviation (docs/scoring.md):
-- * liquidations: ln(1 + basis points of open interest), per window; heavy tails and the
--   many quiet windows of a small asset both fit a log;
-- * price and OI change (percent over the OI lookback) and funding (basis points per 8 h):
--   asinh, linear near zero and logarithmic in the tails, sign kept;
-- * long/short shares: ln(long / short), so 3:1 and 1:3 are equally far from balance;
-- * stablecoin pressure / 100 (market-wide, the same on every row of the window).
-- asinh(x) = sign(x) ln(|x| + sqrt(x^2 + 1)): Flink SQL has no ASINH.
-- The pressure join is an interval join on the same window in streaming (append-only, so
-- the OVER windows below can follow it) and a hash join on window_minute in batch.
CREATE TEMPORARY VIEW score_signals AS
SELECT s.*, p.pressure AS pressure_value,
  CASE WHEN s.oi_usd > 0 THEN LN(1 + 1e4 * s.liq_long_in / s.oi_usd) END AS liq_long,
  CASE WHEN s.oi_usd > 0 THEN LN(1 + 1e4 * s.liq_short_in / s.oi_usd) END AS liq_short,
  CASE WHEN s.oi_usd > 0 AND s.liq_recent_n > 0
    THEN LN(1 + 1e4 * s.liq_long_recent_usd / s.liq_recent_n / s.oi_usd) END AS liq_long_recent,
  CASE WHEN s.oi_usd > 0 AND s.liq_recent_n > 0
    THEN LN(1 + 1e4 * s.liq_short_recent_usd / s.liq_recent_n / s.oi_usd) END AS liq_short_recent,
  SIGN(s.price_change_pct) * LN(ABS(s.price_change_pct)
    + SQRT(s.price_change_pct * s.price_change_pct + 1)) AS price,
  SIGN(s.oi_change_pct) * LN(ABS(s.oi_change_pct)
    + SQRT(s.oi_change_pct * s.oi_change_pct + 1)) AS oi,
  SIGN(s.funding_8h) * LN(ABS(1e4 * s.funding_8h)
    + SQRT(1e8 * s.funding_8h * s.funding_8h + 1)) AS funding,
  LN(GREATEST(s.long_share, 1e-6) / GREATEST(1 - s.long_share, 1e-6)) AS ls,
  LN(GREATEST(s.top_long_share, 1e-6) / GREATEST(1 - s.top_long_share, 1e-6)) AS top_ls,
  p.pressure / 100 AS pressure
FROM score_recent AS s
LEFT JOIN stablecoin_pressure AS p
  ON p.window_minute = s.window_minute AND p.window_time BETWEEN s.window_time AND s.window_time;

-- Each signal's trailing history on this asset and venue: count, sum and sum of squares of
-- its values over the last history_windows windows, the current window taken out again
-- (a row is judged against its past, not against itself). NULLs (missing inputs) are not
-- counted. The scoring UDF turns these into z-scores (flink_jobs/scoring.py).
CREATE TEMPORARY VIEW score_history AS
SELECT *,
  CAST(COUNT(liq_long) OVER h AS DOUBLE) - CASE WHEN liq_long IS NULL THEN 0 ELSE 1 END AS liq_long_n,
  SUM(liq_long) OVER h - COALESCE(liq_long, 0) AS liq_long_sum,
  SUM(liq_long * liq_long) OVER h - COALESCE(liq_long * liq_long, 0) AS liq_long_sumsq,
  CAST(COUNT(liq_short) OVER h AS DOUBLE) - CASE WHEN liq_short IS NULL THEN 0 ELSE 1 END AS liq_short_n,
  SUM(liq_short) OVER h - COALESCE(liq_short, 0) AS liq_short_sum,
  SUM(liq_short * liq_short) OVER h - COALESCE(liq_short * liq_short, 0) AS liq_short_sumsq,
  CAST(COUNT(liq_long_recent) OVER h AS DOUBLE) - CASE WHEN liq_long_recent IS NULL THEN 0 ELSE 1 END AS liq_long_recent_n,
  SUM(liq_long_recent) OVER h - COALESCE(liq_long_recent, 0) AS liq_long_recent_sum,
  SUM(liq_long_recent * liq_long_recent) OVER h - COALESCE(liq_long_recent * liq_long_recent, 0) AS liq_long_recent_sumsq,
  CAST(COUNT(liq_short_recent) OVER h AS DOUBLE) - CASE WHEN liq_short_recent IS NULL THEN 0 ELSE 1 END AS liq_short_recent_n,
  SUM(liq_short_recent) OVER h - COALESCE(liq_short_recent, 0) AS liq_short_recent_sum,
  SUM(liq_short_recent * liq_short_recent) OVER h - COALESCE(liq_short_recent * liq_short_recent, 0) AS liq_short_recent_sumsq,
  CAST(COUNT(price) OVER h AS DOUBLE) - CASE WHEN price IS NULL THEN 0 ELSE 1 END AS price_n,
  SUM(price) OVER h - COALESCE(price, 0) AS price_sum,
  SUM(price * price) OVER h - COALESCE(price * price, 0) AS price_sumsq,
  CAST(COUNT(oi) OVER h AS DOUBLE) - CASE WHEN oi IS NULL THEN 0 ELSE 1 END AS oi_n,
  SUM(oi) OVER h - COALESCE(oi, 0) AS oi_sum,
  SUM(oi * oi) OVER h - COALESCE(oi * oi, 0) AS oi_sumsq,
  CAST(COUNT(funding) OVER h AS DOUBLE) - CASE WHEN funding IS NULL THEN 0 ELSE 1 END AS funding_n,
  SUM(funding) OVER h - COALESCE(funding, 0) AS funding_sum,
  SUM(funding * funding) OVER h - COALESCE(funding * funding, 0) AS funding_sumsq,
  CAST(COUNT(ls) OVER h AS DOUBLE) - CASE WHEN ls IS NULL THEN 0 ELSE 1 END AS ls_n,
  SUM(ls) OVER h - COALESCE(ls, 0) AS ls_sum,
  SUM(ls * ls) OVER h - COALESCE(ls * ls, 0) AS ls_sumsq,
  CAST(COUNT(top_ls) OVER h AS DOUBLE) - CASE WHEN top_ls IS NULL THEN 0 ELSE 1 END AS top_ls_n,
  SUM(top_ls) OVER h - COALESCE(top_ls, 0) AS top_ls_sum,
  SUM(top_ls * top_ls) OVER h - COALESCE(top_ls * top_ls, 0) AS top_ls_sumsq,
  CAST(COUNT(pressure) OVER h AS DOUBLE) - CASE WHEN pressure IS NULL THEN 0 ELSE 1 END AS pressure_n,
  SUM(pressure) OVER h - COALESCE(pressure, 0) AS pressure_sum,
  SUM(pressure * pressure) OVER h - COALESCE(pressure * pressure, 0) AS pressure_sumsq
FROM score_signals
WINDOW h AS (
  PARTITION BY base, venue ORDER BY ${time_order}
  RANGE BETWEEN ${history_range} PRECEDING AND CURRENT ROW
);
