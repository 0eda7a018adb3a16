-- BENCHMARK VARIANT ONLY (python -m bench.pipeline --variants sql): sql/flink/50_pressure.sql
-- with the Python UDF replaced by the same formula as an SQL expression, to measure what
-- the UDF costs. The monitor has one implementation of every score, flink_jobs/scoring.py;
-- bench.pipeline compares this variant's rows with the UDFs' and reports any difference.
-- pressure = sign(net) * 100 * tanh(ln(1 + |net| / max(baseline, floor)) / softness),
-- net = outflow - inflow (a missing side counts 0), NULL when both sides are missing.
CREATE TEMPORARY VIEW stablecoin_pressure AS
SELECT window_start, window_end, window_time, inflow_usd, outflow_usd, internal_usd,
  transfers, baseline_usd,
  CASE WHEN inflow_usd IS NOT NULL OR outflow_usd IS NOT NULL THEN
    SIGN(COALESCE(outflow_usd, 0E0) - COALESCE(inflow_usd, 0E0)) * 100E0 * TANH(
      LN(1E0 + ABS(COALESCE(outflow_usd, 0E0) - COALESCE(inflow_usd, 0E0))
         / GREATEST(COALESCE(baseline_usd, 0E0), ${pressure_min_baseline_usd}))
      / ${pressure_softness})
  END AS pressure
FROM flow_baseline;
