-- Stablecoin Pressure per minute, -100..+100 (outflow positive), by the Python UDF.
CREATE TEMPORARY VIEW stablecoin_pressure AS
SELECT window_start, window_end, window_time, window_minute, inflow_usd, outflow_usd, internal_usd,
  transfers, baseline_usd,
  STABLECOIN_PRESSURE(inflow_usd, outflow_usd, baseline_usd) AS pressure
FROM flow_baseline;
