-- All venues of an asset in one row per minute (cascaded window on the venue rows).
-- Funding is weighted by each venue's open interest: a big venue's crowding matters more.
-- Changes are summed over venues that reported both now and at the lookback start.
CREATE TEMPORARY VIEW venue_rows AS  -- the venue minutes, minus their window bounds
SELECT window_time AS venue_time, venue, base, price, price_ref, funding_8h, oi_usd, oi_ref, long_share,
  liq_long_usd, liq_short_usd, liq_count, events
FROM venue_lookback;

CREATE TEMPORARY VIEW asset_features AS
SELECT
  window_start, window_end, window_time, base,
  AVG(price) AS price,
  COALESCE(
    SUM(funding_8h * oi_usd) / NULLIF(SUM(CASE WHEN funding_8h IS NOT NULL THEN oi_usd END), 0),
    AVG(funding_8h)) AS funding_8h,
  SUM(oi_usd) AS oi_usd,
  100 * (SUM(CASE WHEN oi_ref > 0 THEN oi_usd END) / SUM(CASE WHEN oi_usd IS NOT NULL THEN oi_ref END) - 1)
    AS oi_change_pct,
  AVG(100 * (price / price_ref - 1)) AS price_change_pct,
  AVG(long_share) AS long_share,
  SUM(liq_long_usd) AS liq_long_usd,
  SUM(liq_short_usd) AS liq_short_usd,
  SUM(liq_count) AS liq_count,
  COUNT(DISTINCT venue) AS venues,
  SUM(events) AS events
FROM TABLE(TUMBLE(TABLE venue_rows, DESCRIPTOR(venue_time), INTERVAL '${window_minutes}' MINUTE))
GROUP BY window_start, window_end, window_time, base;
