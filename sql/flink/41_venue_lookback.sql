-- What each venue's open interest and price were at the start of the lookback, so the
-- asset-wide change below is a change per venue: a venue that drops out for a minute
-- does not look like an open-interest crash. FIRST_VALUE skips NULLs.
CREATE TEMPORARY VIEW venue_lookback AS
SELECT *,
  FIRST_VALUE(oi_usd) OVER w AS oi_ref,
  FIRST_VALUE(price)  OVER w AS price_ref
FROM venue_features
WINDOW w AS (
  PARTITION BY venue, base ORDER BY window_time
  RANGE BETWEEN INTERVAL '${oi_lookback_minutes}' MINUTE PRECEDING AND CURRENT ROW
);
