-- BENCHMARK VARIANT ONLY (bench/pure_sql.py): each side's combined score and risk, as
-- scoring.combine and scoring.risk_of do. S = num / sqrt(norm) (0 when nothing is judged),
-- risk = 100 x Phi(S / risk_spread).
-- Phi: Flink SQL has no erf, so the normal tail Q(a) = 1 - Phi(a), a = |x|, is Hart's
-- double-precision rational approximation (Hart 1968, algorithm 5666; West 2005,
-- "Better approximations to cumulative normal functions"):
--   a < 7.07:  exp(-a^2/2) P(a) / Q(a), P and Q polynomials of degree 6 and 7;
--   a < 37:    exp(-a^2/2) / (a + 1/(a + 2/(a + 3/(a + 4/(a + 0.65))))) / sqrt(2 pi);
--   beyond:    0 (below the smallest double's reach of Phi's tail);
-- Phi(x) = 1 - Q(a) for x > 0, Q(a) otherwise. Against scipy's ndtr (the UDF's) it is
-- within 2.3e-14 risk points over all x (bench/pure_sql.py MAX_RISK_DEVIATION, tested).
CREATE TEMPORARY VIEW score_x AS
SELECT *,
  CASE WHEN l_norm > 0 THEN l_num / SQRT(l_norm) ELSE 0E0 END / ${risk_spread} AS l_x,
  CASE WHEN s_norm > 0 THEN s_num / SQRT(s_norm) ELSE 0E0 END / ${risk_spread} AS s_x
FROM score_sums;

CREATE TEMPORARY VIEW score_tail AS
SELECT *,
  CASE
    WHEN l_a < 7.07106781186547E0 THEN EXP(-l_a * l_a / 2) * ((((((3.52624965998911E-02 * l_a + 0.700383064443688E0) * l_a + 6.37396220353165E0) * l_a + 33.912866078383E0) * l_a + 112.079291497871E0) * l_a + 221.213596169931E0) * l_a + 220.206867912376E0)
      / (((((((8.83883476483184E-02 * l_a + 1.75566716318264E0) * l_a + 16.064177579207E0) * l_a + 86.7807322029461E0) * l_a + 296.564248779674E0) * l_a + 637.333633378831E0) * l_a + 793.826512519948E0) * l_a + 440.413735824752E0)
    WHEN l_a <= 37 THEN EXP(-l_a * l_a / 2) / (l_a + 1 / (l_a + 2 / (l_a + 3 / (l_a + 4 / (l_a + 0.65E0)))))
      / 2.506628274631E0
    ELSE 0E0
  END AS l_tail,
  CASE
    WHEN s_a < 7.07106781186547E0 THEN EXP(-s_a * s_a / 2) * ((((((3.52624965998911E-02 * s_a + 0.700383064443688E0) * s_a + 6.37396220353165E0) * s_a + 33.912866078383E0) * s_a + 112.079291497871E0) * s_a + 221.213596169931E0) * s_a + 220.206867912376E0)
      / (((((((8.83883476483184E-02 * s_a + 1.75566716318264E0) * s_a + 16.064177579207E0) * s_a + 86.7807322029461E0) * s_a + 296.564248779674E0) * s_a + 637.333633378831E0) * s_a + 793.826512519948E0) * s_a + 440.413735824752E0)
    WHEN s_a <= 37 THEN EXP(-s_a * s_a / 2) / (s_a + 1 / (s_a + 2 / (s_a + 3 / (s_a + 4 / (s_a + 0.65E0)))))
      / 2.506628274631E0
    ELSE 0E0
  END AS s_tail
-- |x| and the risks below are fenced (+ 0E0 * RAND(), exactly 0: bench/sql/48 says why).
FROM (SELECT *, ABS(l_x) + 0E0 * RAND() AS l_a, ABS(s_x) + 0E0 * RAND() AS s_a FROM score_x);

-- Each component's signed contribution to its side's S (scoring.combine: w z / sqrt(norm),
-- NULL when the component is missing or weighs 0).
CREATE TEMPORARY VIEW score_sided AS
SELECT *,
  100 * CASE WHEN l_x > 0 THEN 1 - l_tail ELSE l_tail END + 0E0 * RAND() AS long_risk,
  100 * CASE WHEN s_x > 0 THEN 1 - s_tail ELSE s_tail END + 0E0 * RAND() AS short_risk,
  CASE WHEN ${on_liquidations} AND zl_liquidations IS NOT NULL THEN ${w_liquidations} * zl_liquidations / SQRT(l_norm) END AS cl_liquidations,
  CASE WHEN ${on_liquidations_recent} AND zl_liquidations_recent IS NOT NULL THEN ${w_liquidations_recent} * zl_liquidations_recent / SQRT(l_norm) END AS cl_liquidations_recent,
  CASE WHEN ${on_price_move} AND zl_price_move IS NOT NULL THEN ${w_price_move} * zl_price_move / SQRT(l_norm) END AS cl_price_move,
  CASE WHEN ${on_oi_buildup} AND zl_oi_buildup IS NOT NULL THEN ${w_oi_buildup} * zl_oi_buildup / SQRT(l_norm) END AS cl_oi_buildup,
  CASE WHEN ${on_funding} AND zl_funding IS NOT NULL THEN ${w_funding} * zl_funding / SQRT(l_norm) END AS cl_funding,
  CASE WHEN ${on_imbalance} AND zl_imbalance IS NOT NULL THEN ${w_imbalance} * zl_imbalance / SQRT(l_norm) END AS cl_imbalance,
  CASE WHEN ${on_top_imbalance} AND zl_top_imbalance IS NOT NULL THEN ${w_top_imbalance} * zl_top_imbalance / SQRT(l_norm) END AS cl_top_imbalance,
  CASE WHEN ${on_pressure} AND zl_pressure IS NOT NULL THEN ${w_pressure} * zl_pressure / SQRT(l_norm) END AS cl_pressure,
  CASE WHEN ${on_liquidations} AND zs_liquidations IS NOT NULL THEN ${w_liquidations} * zs_liquidations / SQRT(s_norm) END AS cs_liquidations,
  CASE WHEN ${on_liquidations_recent} AND zs_liquidations_recent IS NOT NULL THEN ${w_liquidations_recent} * zs_liquidations_recent / SQRT(s_norm) END AS cs_liquidations_recent,
  CASE WHEN ${on_price_move} AND zs_price_move IS NOT NULL THEN ${w_price_move} * zs_price_move / SQRT(s_norm) END AS cs_price_move,
  CASE WHEN ${on_oi_buildup} AND zs_oi_buildup IS NOT NULL THEN ${w_oi_buildup} * zs_oi_buildup / SQRT(s_norm) END AS cs_oi_buildup,
  CASE WHEN ${on_funding} AND zs_funding IS NOT NULL THEN ${w_funding} * zs_funding / SQRT(s_norm) END AS cs_funding,
  CASE WHEN ${on_imbalance} AND zs_imbalance IS NOT NULL THEN ${w_imbalance} * zs_imbalance / SQRT(s_norm) END AS cs_imbalance,
  CASE WHEN ${on_top_imbalance} AND zs_top_imbalance IS NOT NULL THEN ${w_top_imbalance} * zs_top_imbalance / SQRT(s_norm) END AS cs_top_imbalance,
  CASE WHEN ${on_pressure} AND zs_pressure IS NOT NULL THEN ${w_pressure} * zs_pressure / SQRT(s_norm) END AS cs_pressure
FROM score_tail;
