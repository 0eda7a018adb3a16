-- The rows the scores are computed on, in one shape: each venue's minute per asset (from
-- its carried-forward inputs, 41) and the asset over all venues (venue = 'all', 42).
CREATE TEMPORARY VIEW score_rows AS
SELECT window_start, window_end, window_time, base, venue,
  funding_cf AS funding_8h, oi_change_cf AS oi_change_pct, price_change_cf AS price_change_pct,
  long_share_cf AS long_share, oi_cf AS oi_usd, liq_long_usd, liq_short_usd, liq_count,
  data_age_s
FROM venue_lookback
UNION ALL
SELECT window_start, window_end, window_time, base, 'all', funding_8h, oi_change_pct,
  price_change_pct, long_share, oi_usd, liq_long_usd, liq_short_usd, liq_count, data_age_s
FROM asset_features;

-- Rolling liquidation baseline of each row's venue (or of all venues) and asset over
-- baseline_windows: one OVER window for both kinds of row. A minute without liquidations
-- counts as 0 only if that feed delivered anything within the baseline; otherwise (e.g.
-- Hyperliquid, no public feed) the input is missing, not zero.
CREATE TEMPORARY VIEW score_inputs AS
SELECT *,
  CASE WHEN liq_seen > 0 THEN COALESCE(liq_long_usd, 0) END AS liq_long_in,
  CASE WHEN liq_seen > 0 THEN COALESCE(liq_short_usd, 0) END AS liq_short_in
FROM (
  SELECT *,
    SUM(liq_count) OVER w AS liq_seen,
    AVG(COALESCE(liq_long_usd, 0) + COALESCE(liq_short_usd, 0)) OVER w AS liq_baseline_usd
  FROM score_rows
  WINDOW w AS (
    PARTITION BY venue, base ORDER BY window_time
    RANGE BETWEEN INTERVAL '${baseline_minutes}' MINUTE PRECEDING AND CURRENT ROW
  )
);
