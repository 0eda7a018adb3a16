-- BENCHMARK BASELINE ONLY (make bench): sql/flink/51_risk_scores.sql with the Python
-- UDFs replaced by the same curves in SQL (ramp = clamp((x - start) / (full - start), 0, 1)).
CREATE TEMPORARY VIEW risk_parts AS
SELECT window_start, window_end, window_time, base,
  ${f_max} * LEAST(GREATEST((ABS(funding_8h) - ${f_start}) / (${f_full} - ${f_start}), 0), 1)
    AS funding_pts,
  ${o_max} * LEAST(GREATEST((oi_change_pct - ${o_start}) / (${o_full} - ${o_start}), 0), 1)
    * (1 - ${o_discount} * COALESCE(LEAST(GREATEST(
        (ABS(price_change_pct) - ${p_flat}) / (${p_moved} - ${p_flat}), 0), 1), 0))
    AS oi_buildup_pts,
  ${i_max} * LEAST(GREATEST((ABS(LN(GREATEST(long_share, 1e-9) / GREATEST(1 - long_share, 1e-9)))
    - LN(${i_start})) / (LN(${i_full}) - LN(${i_start})), 0), 1) AS imbalance_pts,
  CASE WHEN liq_usd IS NULL OR (COALESCE(oi_usd, 0) = 0 AND COALESCE(liq_baseline_usd, 0) = 0)
    THEN CAST(NULL AS DOUBLE)
    ELSE ${l_max} * GREATEST(
      CASE WHEN oi_usd > 0 THEN LEAST(GREATEST(
        (liq_usd / oi_usd * 1e4 - ${l_bp_start}) / (${l_bp_full} - ${l_bp_start}), 0), 1) ELSE 0 END,
      CASE WHEN liq_baseline_usd > 0 THEN LEAST(GREATEST(
        (liq_usd / liq_baseline_usd - ${l_s_start}) / (${l_s_full} - ${l_s_start}), 0), 1) ELSE 0 END)
  END AS liquidation_pts
FROM asset_baseline;

CREATE TEMPORARY VIEW risk_scores AS
SELECT a.window_start, a.window_end, a.window_time, a.base,
  a.risk, a.funding_pts, a.oi_buildup_pts, a.imbalance_pts, a.liquidation_pts,
  a.confidence, a.components, p.pressure,
  CASE
    WHEN a.confidence < ${min_confidence} THEN CAST(NULL AS STRING)
    WHEN a.risk > ${critical_risk} AND p.pressure < ${critical_pressure} THEN 'CRITICAL'
    WHEN a.risk > ${warning_risk} AND p.pressure < ${warning_pressure} THEN 'WARNING'
    WHEN a.risk > ${info_risk} THEN 'INFO'
  END AS level
FROM (
  SELECT *,
    LEAST(100, COALESCE(funding_pts, 0) + COALESCE(oi_buildup_pts, 0)
      + COALESCE(imbalance_pts, 0) + COALESCE(liquidation_pts, 0)) AS risk,
    (CASE WHEN funding_pts IS NULL THEN 0 ELSE ${f_max} END
      + CASE WHEN oi_buildup_pts IS NULL THEN 0 ELSE ${o_max} END
      + CASE WHEN imbalance_pts IS NULL THEN 0 ELSE ${i_max} END
      + CASE WHEN liquidation_pts IS NULL THEN 0 ELSE ${l_max} END) / 100.0 AS confidence,
    CONCAT_WS(',',
      CASE WHEN funding_pts IS NOT NULL THEN 'funding' END,
      CASE WHEN oi_buildup_pts IS NOT NULL THEN 'oi_buildup' END,
      CASE WHEN imbalance_pts IS NOT NULL THEN 'imbalance' END,
      CASE WHEN liquidation_pts IS NOT NULL THEN 'liquidations' END) AS components
  FROM risk_parts
) AS a
LEFT JOIN stablecoin_pressure AS p
  ON p.window_time BETWEEN a.window_time AND a.window_time;
