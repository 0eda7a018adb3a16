-- BENCHMARK VARIANT ONLY (python -m bench.pipeline --variants udf,sql; bench/pure_sql.py):
-- sql/flink/45_pressure.sql with STABLECOIN_PRESSURE written as SQL, the formula of
-- flink_jobs/scoring.py (_pressure), to price the Python UDF. The monitor scores with the UDF.
-- sign(net) x 100 x tanh(ln(1 + |net| / max(baseline, floor)) / softness), net = outflow -
-- inflow, a missing flow counted as 0 and both missing = NULL (44 never leaves them NULL).
-- LN(1 + x) stands in for log1p (Flink SQL has none): equal to a few 1e-16 of the value.
CREATE TEMPORARY VIEW stablecoin_pressure AS
SELECT window_start, window_end, window_time, window_minute, inflow_usd, outflow_usd, internal_usd,
  transfers, baseline_usd,
  CASE WHEN inflow_usd IS NOT NULL OR outflow_usd IS NOT NULL THEN
    SIGN(net_usd) * 100 * TANH(LN(1 + ABS(net_usd)
      / GREATEST(COALESCE(baseline_usd, 0E0), ${min_baseline_usd})) / ${softness})
  END AS pressure
FROM (
  SELECT *, COALESCE(outflow_usd, 0E0) - COALESCE(inflow_usd, 0E0) AS net_usd
  FROM flow_baseline
);
