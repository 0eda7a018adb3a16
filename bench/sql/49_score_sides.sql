-- BENCHMARK VARIANT ONLY (bench/pure_sql.py): LIQUIDATION_RISK's sides in SQL, as
-- scoring.side_z and scoring.combine do. Each side's components are signed z-scores
-- (scoring.SIDES: a fall hurts longs, a rise shorts; longs pay positive funding ...);
-- zl_* the long side, zs_* the short side. Then per side, over the components present with
-- a non-zero weight: num = sum(w z) and norm = sum(w^2), added in scoring.COMPONENTS order
-- from 0 as numpy adds them, so the sums are the same floats.
CREATE TEMPORARY VIEW score_sides AS
SELECT *,
  z_liq_long AS zl_liquidations, z_liq_short AS zs_liquidations,
  z_liq_long_recent AS zl_liquidations_recent, z_liq_short_recent AS zs_liquidations_recent,
  -z_price AS zl_price_move, z_price AS zs_price_move,
  z_oi AS zl_oi_buildup, z_oi AS zs_oi_buildup,
  z_funding AS zl_funding, -z_funding AS zs_funding,
  z_ls AS zl_imbalance, -z_ls AS zs_imbalance,
  z_top_ls AS zl_top_imbalance, -z_top_ls AS zs_top_imbalance,
  -z_pressure AS zl_pressure, z_pressure AS zs_pressure
FROM score_z;

CREATE TEMPORARY VIEW score_sums AS
SELECT *,
  0E0
    + CASE WHEN ${on_liquidations} AND zl_liquidations IS NOT NULL THEN ${w_liquidations} * zl_liquidations ELSE 0E0 END
    + CASE WHEN ${on_liquidations_recent} AND zl_liquidations_recent IS NOT NULL THEN ${w_liquidations_recent} * zl_liquidations_recent ELSE 0E0 END
    + CASE WHEN ${on_price_move} AND zl_price_move IS NOT NULL THEN ${w_price_move} * zl_price_move ELSE 0E0 END
    + CASE WHEN ${on_oi_buildup} AND zl_oi_buildup IS NOT NULL THEN ${w_oi_buildup} * zl_oi_buildup ELSE 0E0 END
    + CASE WHEN ${on_funding} AND zl_funding IS NOT NULL THEN ${w_funding} * zl_funding ELSE 0E0 END
    + CASE WHEN ${on_imbalance} AND zl_imbalance IS NOT NULL THEN ${w_imbalance} * zl_imbalance ELSE 0E0 END
    + CASE WHEN ${on_top_imbalance} AND zl_top_imbalance IS NOT NULL THEN ${w_top_imbalance} * zl_top_imbalance ELSE 0E0 END
    + CASE WHEN ${on_pressure} AND zl_pressure IS NOT NULL THEN ${w_pressure} * zl_pressure ELSE 0E0 END AS l_num,
  0E0
    + CASE WHEN ${on_liquidations} AND zl_liquidations IS NOT NULL THEN ${w2_liquidations} ELSE 0E0 END
    + CASE WHEN ${on_liquidations_recent} AND zl_liquidations_recent IS NOT NULL THEN ${w2_liquidations_recent} ELSE 0E0 END
    + CASE WHEN ${on_price_move} AND zl_price_move IS NOT NULL THEN ${w2_price_move} ELSE 0E0 END
    + CASE WHEN ${on_oi_buildup} AND zl_oi_buildup IS NOT NULL THEN ${w2_oi_buildup} ELSE 0E0 END
    + CASE WHEN ${on_funding} AND zl_funding IS NOT NULL THEN ${w2_funding} ELSE 0E0 END
    + CASE WHEN ${on_imbalance} AND zl_imbalance IS NOT NULL THEN ${w2_imbalance} ELSE 0E0 END
    + CASE WHEN ${on_top_imbalance} AND zl_top_imbalance IS NOT NULL THEN ${w2_top_imbalance} ELSE 0E0 END
    + CASE WHEN ${on_pressure} AND zl_pressure IS NOT NULL THEN ${w2_pressure} ELSE 0E0 END AS l_norm,
  0E0
    + CASE WHEN ${on_liquidations} AND zs_liquidations IS NOT NULL THEN ${w_liquidations} * zs_liquidations ELSE 0E0 END
    + CASE WHEN ${on_liquidations_recent} AND zs_liquidations_recent IS NOT NULL THEN ${w_liquidations_recent} * zs_liquidations_recent ELSE 0E0 END
    + CASE WHEN ${on_price_move} AND zs_price_move IS NOT NULL THEN ${w_price_move} * zs_price_move ELSE 0E0 END
    + CASE WHEN ${on_oi_buildup} AND zs_oi_buildup IS NOT NULL THEN ${w_oi_buildup} * zs_oi_buildup ELSE 0E0 END
    + CASE WHEN ${on_funding} AND zs_funding IS NOT NULL THEN ${w_funding} * zs_funding ELSE 0E0 END
    + CASE WHEN ${on_imbalance} AND zs_imbalance IS NOT NULL THEN ${w_imbalance} * zs_imbalance ELSE 0E0 END
    + CASE WHEN ${on_top_imbalance} AND zs_top_imbalance IS NOT NULL THEN ${w_top_imbalance} * zs_top_imbalance ELSE 0E0 END
    + CASE WHEN ${on_pressure} AND zs_pressure IS NOT NULL THEN ${w_pressure} * zs_pressure ELSE 0E0 END AS s_num,
  0E0
    + CASE WHEN ${on_liquidations} AND zs_liquidations IS NOT NULL THEN ${w2_liquidations} ELSE 0E0 END
    + CASE WHEN ${on_liquidations_recent} AND zs_liquidations_recent IS NOT NULL THEN ${w2_liquidations_recent} ELSE 0E0 END
    + CASE WHEN ${on_price_move} AND zs_price_move IS NOT NULL THEN ${w2_price_move} ELSE 0E0 END
    + CASE WHEN ${on_oi_buildup} AND zs_oi_buildup IS NOT NULL THEN ${w2_oi_buildup} ELSE 0E0 END
    + CASE WHEN ${on_funding} AND zs_funding IS NOT NULL THEN ${w2_funding} ELSE 0E0 END
    + CASE WHEN ${on_imbalance} AND zs_imbalance IS NOT NULL THEN ${w2_imbalance} ELSE 0E0 END
    + CASE WHEN ${on_top_imbalance} AND zs_top_imbalance IS NOT NULL THEN ${w2_top_imbalance} ELSE 0E0 END
    + CASE WHEN ${on_pressure} AND zs_pressure IS NOT NULL THEN ${w2_pressure} ELSE 0E0 END AS s_norm
FROM score_sides;
