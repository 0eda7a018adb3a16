-- BENCHMARK VARIANT ONLY (python -m bench.pipeline --variants sql): sql/flink/51_risk_scores.sql
-- with the Python UDFs LIQUIDATION_RISK and ALERT_LEVEL replaced by the same curves as SQL
-- expressions, to measure what the UDFs cost. Same views, same columns, same inputs; the
-- formulas follow flink_jobs/scoring.py line by line, and bench.pipeline checks that this
-- variant writes the UDFs' rows (so a change to the scoring shows up as a difference).
-- ramp(x, start, full) = clamp((x - start) / (full - start), 0, 1); NULL stays NULL (numpy's
-- NaN); numbers are DOUBLE literals (E notation) so the arithmetic is numpy's.
CREATE TEMPORARY VIEW score_parts AS
SELECT window_start, window_end, window_time, base, venue, data_age_s, funding_8h,
  oi_change_pct, price_change_pct, long_share, liq_long_in, liq_short_in,
  -- funding: crowding paid for, positive funding for the long side, negative for the short
  ${funding_max_points} * LEAST(GREATEST((funding_8h - ${funding_neutral_8h})
    / (${funding_extreme_8h} - ${funding_neutral_8h}), 0E0), 1E0) AS funding_long,
  ${funding_max_points} * LEAST(GREATEST((-funding_8h - ${funding_neutral_8h})
    / (${funding_extreme_8h} - ${funding_neutral_8h}), 0E0), 1E0) AS funding_short,
  -- open-interest build-up, discounted as price moved with it (both sides; needs both)
  ${oi_buildup_max_points} * LEAST(GREATEST((oi_change_pct - ${oi_buildup_start_pct})
    / (${oi_buildup_full_pct} - ${oi_buildup_start_pct}), 0E0), 1E0)
    * (1E0 - ${oi_buildup_moved_discount} * LEAST(GREATEST(
      (ABS(price_change_pct) - ${oi_buildup_price_flat_pct})
      / (${oi_buildup_price_moved_pct} - ${oi_buildup_price_flat_pct}), 0E0), 1E0))
    AS oi_buildup,
  -- imbalance: ln(long/short) of the account ratio, towards the side
  ${imbalance_max_points} * LEAST(GREATEST((skew - LN(${imbalance_start_ratio}))
    / (LN(${imbalance_full_ratio}) - LN(${imbalance_start_ratio})), 0E0), 1E0) AS imbalance_long,
  ${imbalance_max_points} * LEAST(GREATEST((-skew - LN(${imbalance_start_ratio}))
    / (LN(${imbalance_full_ratio}) - LN(${imbalance_start_ratio})), 0E0), 1E0) AS imbalance_short,
  -- liquidations: the side's liquidated notional against OI and against the baseline, or
  -- the OI flush (OI falling while price moved against the side); NULL without a feed
  CASE WHEN liq_long_in IS NOT NULL THEN ${liquidations_max_points} * GREATEST(
    COALESCE(CASE WHEN oi_usd > 0 THEN LEAST(GREATEST((liq_long_in / oi_usd * 1E4
      - ${liquidations_start_bp_of_oi}) / (${liquidations_full_bp_of_oi}
      - ${liquidations_start_bp_of_oi}), 0E0), 1E0) ELSE 0E0 END, 0E0),
    COALESCE(CASE WHEN liq_baseline_usd > 0 THEN LEAST(GREATEST((liq_long_in / liq_baseline_usd
      - ${liquidations_start_surge}) / (${liquidations_full_surge}
      - ${liquidations_start_surge}), 0E0), 1E0) ELSE 0E0 END, 0E0),
    COALESCE(flush * LEAST(GREATEST((-price_change_pct - ${oi_buildup_price_flat_pct})
      / (${oi_buildup_price_moved_pct} - ${oi_buildup_price_flat_pct}), 0E0), 1E0), 0E0))
  END AS liquidation_long,
  CASE WHEN liq_short_in IS NOT NULL THEN ${liquidations_max_points} * GREATEST(
    COALESCE(CASE WHEN oi_usd > 0 THEN LEAST(GREATEST((liq_short_in / oi_usd * 1E4
      - ${liquidations_start_bp_of_oi}) / (${liquidations_full_bp_of_oi}
      - ${liquidations_start_bp_of_oi}), 0E0), 1E0) ELSE 0E0 END, 0E0),
    COALESCE(CASE WHEN liq_baseline_usd > 0 THEN LEAST(GREATEST((liq_short_in / liq_baseline_usd
      - ${liquidations_start_surge}) / (${liquidations_full_surge}
      - ${liquidations_start_surge}), 0E0), 1E0) ELSE 0E0 END, 0E0),
    COALESCE(flush * LEAST(GREATEST((price_change_pct - ${oi_buildup_price_flat_pct})
      / (${oi_buildup_price_moved_pct} - ${oi_buildup_price_flat_pct}), 0E0), 1E0), 0E0))
  END AS liquidation_short
FROM (
  SELECT *,
    LN(LEAST(GREATEST(long_share, 1E-9), 1E0 - 1E-9)
       / (1E0 - LEAST(GREATEST(long_share, 1E-9), 1E0 - 1E-9))) AS skew,
    LEAST(GREATEST((-oi_change_pct - ${liquidations_oi_drop_start_pct})
      / (${liquidations_oi_drop_full_pct} - ${liquidations_oi_drop_start_pct}), 0E0), 1E0)
      AS flush
  FROM score_inputs
);

-- Each side's risk is the sum of its present components, at most 100; risk is the larger
-- (a tie reads as the long side) and the components shown are that side's.
CREATE TEMPORARY VIEW scores AS
SELECT window_start, window_end, window_time, base, venue, data_age_s,
  GREATEST(long_risk, short_risk) AS risk,
  CASE WHEN long_risk >= short_risk THEN 'long' ELSE 'short' END AS side,
  long_risk, short_risk,
  CASE WHEN long_risk >= short_risk THEN funding_long ELSE funding_short END AS funding_pts,
  oi_buildup AS oi_buildup_pts,
  CASE WHEN long_risk >= short_risk THEN imbalance_long ELSE imbalance_short END
    AS imbalance_pts,
  CASE WHEN long_risk >= short_risk THEN liquidation_long ELSE liquidation_short END
    AS liquidation_pts,
  ((CASE WHEN funding_8h IS NOT NULL THEN ${funding_max_points} ELSE 0E0 END)
    + (CASE WHEN oi_buildup IS NOT NULL THEN ${oi_buildup_max_points} ELSE 0E0 END)
    + (CASE WHEN long_share IS NOT NULL THEN ${imbalance_max_points} ELSE 0E0 END)
    + (CASE WHEN liq_long_in IS NOT NULL THEN ${liquidations_max_points} ELSE 0E0 END))
    / 100E0 AS confidence,
  CONCAT_WS(',',
    CASE WHEN funding_8h IS NOT NULL THEN 'funding' END,
    CASE WHEN oi_buildup IS NOT NULL THEN 'oi_buildup' END,
    CASE WHEN long_share IS NOT NULL THEN 'imbalance' END,
    CASE WHEN liq_long_in IS NOT NULL THEN 'liquidations' END) AS components
FROM (
  SELECT *,
    LEAST(100E0, COALESCE(funding_long, 0E0) + COALESCE(oi_buildup, 0E0)
      + COALESCE(imbalance_long, 0E0) + COALESCE(liquidation_long, 0E0)) AS long_risk,
    LEAST(100E0, COALESCE(funding_short, 0E0) + COALESCE(oi_buildup, 0E0)
      + COALESCE(imbalance_short, 0E0) + COALESCE(liquidation_short, 0E0)) AS short_risk
  FROM score_parts
);

-- As sql/flink/51: the minute's pressure joined on, and the instantaneous level
-- (scoring.alert_level: NULL when too thin; WARNING and CRITICAL need a known pressure).
CREATE TEMPORARY VIEW risk_scores AS
SELECT *,
  CASE
    WHEN risk IS NULL OR confidence IS NULL OR confidence < ${alerts_min_confidence}
      THEN CAST(NULL AS STRING)
    WHEN risk > ${alerts_critical_risk} AND pressure < ${alerts_critical_pressure}
      THEN 'CRITICAL'
    WHEN risk > ${alerts_warning_risk} AND pressure < ${alerts_warning_pressure} THEN 'WARNING'
    WHEN risk > ${alerts_info_risk} THEN 'INFO'
  END AS level_now
FROM (
  SELECT s.window_start, s.window_end, s.window_time, s.base, s.venue, s.risk, s.side,
    s.long_risk, s.short_risk, s.funding_pts, s.oi_buildup_pts, s.imbalance_pts,
    s.liquidation_pts, s.confidence, s.components, s.data_age_s, p.pressure
  FROM scores AS s
  LEFT JOIN stablecoin_pressure AS p
    ON p.window_time BETWEEN s.window_time AND s.window_time
);
