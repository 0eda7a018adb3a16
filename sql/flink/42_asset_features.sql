-- All venues of an asset in one row per minute (cascaded window on the venue rows), from
-- each venue's carried-forward inputs (41), so a venue skipping a minute's OI report does
-- not make the asset's open interest dip.
-- Funding is weighted by each venue's open interest: a big venue's crowding matters more.
-- Changes are summed over venues that reported both now and at the lookback start.
-- data_age_s: the stalest input of any venue.
CREATE TEMPORARY VIEW venue_rows AS  -- the venue minutes, minus their window bounds
SELECT window_time AS venue_time, venue, base, price_cf, price_ref, funding_cf, oi_cf, oi_ref,
  long_share_cf, top_long_share_cf, liq_long_usd, liq_short_usd, liq_count, events, data_age_s
FROM venue_lookback;

CREATE TEMPORARY VIEW asset_features AS
SELECT
  window_start, window_end, window_time,
  TIMESTAMPDIFF(MINUTE, TIMESTAMP '1970-01-01 00:00:00', window_start) AS window_minute, base,
  AVG(price_cf) AS price,
  COALESCE(
    SUM(funding_cf * oi_cf) / NULLIF(SUM(CASE WHEN funding_cf IS NOT NULL THEN oi_cf END), 0),
    AVG(funding_cf)) AS funding_8h,
  SUM(oi_cf) AS oi_usd,
  100 * (SUM(CASE WHEN oi_ref > 0 THEN oi_cf END) / SUM(CASE WHEN oi_cf IS NOT NULL THEN oi_ref END) - 1)
    AS oi_change_pct,
  AVG(100 * (price_cf / price_ref - 1)) AS price_change_pct,
  AVG(long_share_cf) AS long_share,
  AVG(top_long_share_cf) AS top_long_share,
  SUM(liq_long_usd) AS liq_long_usd,
  SUM(liq_short_usd) AS liq_short_usd,
  SUM(liq_count) AS liq_count,
  COUNT(DISTINCT venue) AS venues,
  SUM(events) AS events,
  MAX(data_age_s) AS data_age_s
FROM TABLE(TUMBLE(TABLE venue_rows, DESCRIPTOR(venue_time), ${window}))
GROUP BY window_start, window_end, window_time, base;
