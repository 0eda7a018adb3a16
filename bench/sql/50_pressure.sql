-- BENCHMARK BASELINE ONLY (make bench): sql/flink/50_pressure.sql with the Python UDF
-- replaced by the same formula in SQL, to measure what the UDF costs. The monitor itself
-- has one implementation of every score: flink_jobs/scoring.py.
CREATE TEMPORARY VIEW stablecoin_pressure AS
SELECT window_start, window_end, window_time, inflow_usd, outflow_usd, internal_usd,
  transfers, baseline_usd,
  SIGN(outflow_usd - inflow_usd) * 100 * TANH(
    LN(1 + ABS(outflow_usd - inflow_usd) / GREATEST(COALESCE(baseline_usd, 0), ${min_baseline_usd}))
    / ${softness}) AS pressure
FROM flow_baseline;
