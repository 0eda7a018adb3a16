-- The scoring inputs of venue rows and all-venue rows ('all') in one shape, so both are
-- judged the same way against their own history (47). The all-venue row carries no venue
-- lookback columns: its changes are already summed over venues (42).
CREATE TEMPORARY VIEW score_rows AS
SELECT window_start, window_end, window_time, window_minute, base, venue,
  funding_cf AS funding_8h, oi_cf AS oi_usd, oi_change_cf AS oi_change_pct,
  price_change_cf AS price_change_pct, long_share_cf AS long_share,
  top_long_share_cf AS top_long_share, liq_long_in, liq_short_in, data_age_s
FROM venue_inputs
UNION ALL
SELECT window_start, window_end, window_time, window_minute, base, 'all', funding_8h, oi_usd,
  oi_change_pct, price_change_pct, long_share, top_long_share, liq_long_in, liq_short_in,
  data_age_s
FROM asset_baseline;

-- Liquidations cluster: a cascade rarely ends in the window it starts. Each side's
-- liquidations over the last recent_windows windows (this one included), and over how
-- many windows the feed was there, for an average per window.
CREATE TEMPORARY VIEW score_recent AS
SELECT *,
  SUM(liq_long_in) OVER r AS liq_long_recent_usd,
  SUM(liq_short_in) OVER r AS liq_short_recent_usd,
  COUNT(liq_long_in) OVER r AS liq_recent_n
FROM score_rows
WINDOW r AS (
  PARTITION BY base, venue ORDER BY ${time_order}
  RANGE BETWEEN ${recent_range} PRECEDING AND CURRENT ROW
);
