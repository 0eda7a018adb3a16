-- BENCHMARK VARIANT ONLY (bench/pure_sql.py): the first step of LIQUIDATION_RISK in SQL.
-- Each signal judged against its trailing history (sql/flink/47), as scoring.zscore does:
--   z = clip((x - mean) / max(sd, min_sd), -z_clip, z_clip), mean = sum / n,
--   sd = sqrt(max(sumsq / n - mean^2, 0)),
-- NULL when x is missing or the history holds fewer than min_windows values (warm-up).
-- The mean is its own column first, so the z expression reads it instead of repeating it.
-- "+ 0E0 * RAND()" adds exactly 0 and is a planning fence: Flink merges consecutive
-- projections by inlining each column into every expression that reads it, and the steps
-- below read each z, |x| and risk many times, so without fences the inlined expression
-- grows exponentially (planning alone took over 10 minutes). Flink never inlines a
-- non-deterministic column that is read more than once (FlinkProjectMergeRule), so each
-- fenced column is computed once per row and read by the next step.
CREATE TEMPORARY VIEW score_mean AS
SELECT *,
  liq_long_sum / liq_long_n AS liq_long_mean,
  liq_short_sum / liq_short_n AS liq_short_mean,
  liq_long_recent_sum / liq_long_recent_n AS liq_long_recent_mean,
  liq_short_recent_sum / liq_short_recent_n AS liq_short_recent_mean,
  price_sum / price_n AS price_mean,
  oi_sum / oi_n AS oi_mean,
  funding_sum / funding_n AS funding_mean,
  ls_sum / ls_n AS ls_mean,
  top_ls_sum / top_ls_n AS top_ls_mean,
  pressure_sum / pressure_n AS pressure_mean
FROM score_history;

CREATE TEMPORARY VIEW score_z AS
SELECT *,
  CASE WHEN liq_long IS NOT NULL AND liq_long_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (liq_long - liq_long_mean) / GREATEST(SQRT(GREATEST(liq_long_sumsq / liq_long_n - liq_long_mean * liq_long_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_liq_long,
  CASE WHEN liq_short IS NOT NULL AND liq_short_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (liq_short - liq_short_mean) / GREATEST(SQRT(GREATEST(liq_short_sumsq / liq_short_n - liq_short_mean * liq_short_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_liq_short,
  CASE WHEN liq_long_recent IS NOT NULL AND liq_long_recent_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (liq_long_recent - liq_long_recent_mean) / GREATEST(SQRT(GREATEST(liq_long_recent_sumsq / liq_long_recent_n - liq_long_recent_mean * liq_long_recent_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_liq_long_recent,
  CASE WHEN liq_short_recent IS NOT NULL AND liq_short_recent_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (liq_short_recent - liq_short_recent_mean) / GREATEST(SQRT(GREATEST(liq_short_recent_sumsq / liq_short_recent_n - liq_short_recent_mean * liq_short_recent_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_liq_short_recent,
  CASE WHEN price IS NOT NULL AND price_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (price - price_mean) / GREATEST(SQRT(GREATEST(price_sumsq / price_n - price_mean * price_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_price,
  CASE WHEN oi IS NOT NULL AND oi_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (oi - oi_mean) / GREATEST(SQRT(GREATEST(oi_sumsq / oi_n - oi_mean * oi_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_oi,
  CASE WHEN funding IS NOT NULL AND funding_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (funding - funding_mean) / GREATEST(SQRT(GREATEST(funding_sumsq / funding_n - funding_mean * funding_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_funding,
  CASE WHEN ls IS NOT NULL AND ls_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (ls - ls_mean) / GREATEST(SQRT(GREATEST(ls_sumsq / ls_n - ls_mean * ls_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_ls,
  CASE WHEN top_ls IS NOT NULL AND top_ls_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (top_ls - top_ls_mean) / GREATEST(SQRT(GREATEST(top_ls_sumsq / top_ls_n - top_ls_mean * top_ls_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_top_ls,
  CASE WHEN pressure IS NOT NULL AND pressure_n >= ${min_windows} THEN GREATEST(${neg_z_clip}, LEAST(${z_clip},
    (pressure - pressure_mean) / GREATEST(SQRT(GREATEST(pressure_sumsq / pressure_n - pressure_mean * pressure_mean, 0E0)),
      ${min_sd}))) END + 0E0 * RAND() AS z_pressure
FROM score_mean;
