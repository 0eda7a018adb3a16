-- BENCHMARK VARIANT ONLY (bench/pure_sql.py): sql/flink/51_risk_scores.sql with the
-- LIQUIDATION_RISK UDF replaced by bench/sql/48-50, in the columns and order of the job's
-- risk_scores view, plus alert_level: ALERT_LEVEL (the venue rows' instantaneous level) in
-- SQL, which the variant's 70_insert.sql reads instead of calling the UDF.
-- As scoring._score_arrays: risk is the larger side and side says which (a tie reads as
-- long); the component columns are the chosen side's contributions; confidence is the
-- share of |weights| whose long-side input was judged, components their names (weight
-- not 0) in scoring.COMPONENTS order. CAST AS STRING: a CASE over literals of different
-- lengths would be a blank-padded CHAR.
CREATE TEMPORARY VIEW risk_scores AS
SELECT *,
  CAST(CASE
    WHEN risk IS NULL OR confidence IS NULL OR confidence < ${min_confidence} THEN NULL
    WHEN risk > ${critical_risk} THEN 'CRITICAL'
    WHEN risk > ${warning_risk} THEN 'WARNING'
    WHEN risk > ${info_risk} THEN 'INFO'
  END AS STRING) AS alert_level
FROM (
  SELECT
    window_start, window_end, window_time, window_minute, base, venue,
    GREATEST(long_risk, short_risk) AS risk,
    CAST(CASE WHEN long_risk >= short_risk THEN 'long' ELSE 'short' END AS STRING) AS side,
    long_risk, short_risk,
    CASE WHEN long_risk >= short_risk THEN cl_funding ELSE cs_funding END AS funding_pts,
    CASE WHEN long_risk >= short_risk THEN cl_oi_buildup ELSE cs_oi_buildup END AS oi_buildup_pts,
    CASE WHEN long_risk >= short_risk THEN cl_imbalance ELSE cs_imbalance END AS imbalance_pts,
    CASE WHEN long_risk >= short_risk THEN cl_liquidations ELSE cs_liquidations END AS liquidation_pts,
    CASE WHEN long_risk >= short_risk THEN cl_liquidations_recent ELSE cs_liquidations_recent END AS liquidation_recent_pts,
    CASE WHEN long_risk >= short_risk THEN cl_price_move ELSE cs_price_move END AS price_move_pts,
    CASE WHEN long_risk >= short_risk THEN cl_top_imbalance ELSE cs_top_imbalance END AS top_imbalance_pts,
    CASE WHEN long_risk >= short_risk THEN cl_pressure ELSE cs_pressure END AS pressure_pts,
    (0E0
      + CASE WHEN zl_liquidations IS NOT NULL THEN ${aw_liquidations} ELSE 0E0 END
      + CASE WHEN zl_liquidations_recent IS NOT NULL THEN ${aw_liquidations_recent} ELSE 0E0 END
      + CASE WHEN zl_price_move IS NOT NULL THEN ${aw_price_move} ELSE 0E0 END
      + CASE WHEN zl_oi_buildup IS NOT NULL THEN ${aw_oi_buildup} ELSE 0E0 END
      + CASE WHEN zl_funding IS NOT NULL THEN ${aw_funding} ELSE 0E0 END
      + CASE WHEN zl_imbalance IS NOT NULL THEN ${aw_imbalance} ELSE 0E0 END
      + CASE WHEN zl_top_imbalance IS NOT NULL THEN ${aw_top_imbalance} ELSE 0E0 END
      + CASE WHEN zl_pressure IS NOT NULL THEN ${aw_pressure} ELSE 0E0 END)
      / ${weight_total} AS confidence,
    CAST(CONCAT_WS(',',
      CASE WHEN ${on_liquidations} AND zl_liquidations IS NOT NULL THEN 'liquidations' END,
      CASE WHEN ${on_liquidations_recent} AND zl_liquidations_recent IS NOT NULL THEN 'liquidations_recent' END,
      CASE WHEN ${on_price_move} AND zl_price_move IS NOT NULL THEN 'price_move' END,
      CASE WHEN ${on_oi_buildup} AND zl_oi_buildup IS NOT NULL THEN 'oi_buildup' END,
      CASE WHEN ${on_funding} AND zl_funding IS NOT NULL THEN 'funding' END,
      CASE WHEN ${on_imbalance} AND zl_imbalance IS NOT NULL THEN 'imbalance' END,
      CASE WHEN ${on_top_imbalance} AND zl_top_imbalance IS NOT NULL THEN 'top_imbalance' END,
      CASE WHEN ${on_pressure} AND zl_pressure IS NOT NULL THEN 'pressure' END) AS STRING) AS components,
    data_age_s, pressure_value AS pressure
  FROM score_sided
);
