-- The liquidation-level map's inputs (docs/liquidation-map.md): per venue, asset and minute
-- the average, lowest and highest price, the average open interest and the notional
-- liquidated. The lowest and highest price are why this is an aggregation of its own over
-- market_events (32) rather than a read of the feature views: a level is cleared when a
-- wick reaches it, and the feature views keep averages. Heartbeats are in market_events,
-- so a quiet minute still closes; their rows (no price, no OI) are dropped below.
CREATE TEMPORARY VIEW map_venue_minutes AS
SELECT window_start, window_end, window_time, venue, base,
  AVG(price) AS price, MIN(price) AS low, MAX(price) AS high, AVG(oi_usd) AS oi_usd,
  COALESCE(SUM(liq_long_usd), 0) + COALESCE(SUM(liq_short_usd), 0) AS liq_usd,
  COUNT(price) + COUNT(oi_usd) AS inputs
FROM TABLE(TUMBLE(TABLE market_events, DESCRIPTOR(event_time), ${window}))
GROUP BY window_start, window_end, window_time, venue, base;

-- One row per asset and minute carrying every venue's minute, so the map (55) sees all
-- venues of a minute at once: "venue,price,low,high,oi_usd,liq_usd" joined by '|', an
-- empty field for NULL (flink_jobs/liquidation_map.py parse_minutes reads it). A cascaded
-- window on the venue rows, as 42 does for the features.
CREATE TEMPORARY VIEW map_venue_rows AS
SELECT window_time AS venue_time, base,
  venue || ',' || COALESCE(CAST(price AS STRING), '') || ',' || COALESCE(CAST(low AS STRING), '')
    || ',' || COALESCE(CAST(high AS STRING), '') || ',' || COALESCE(CAST(oi_usd AS STRING), '')
    || ',' || CAST(liq_usd AS STRING) AS packed
FROM map_venue_minutes
WHERE inputs > 0;

CREATE TEMPORARY VIEW map_asset_minutes AS
SELECT window_start, window_end, window_time, base, LISTAGG(packed, '|') AS venues
FROM TABLE(TUMBLE(TABLE map_venue_rows, DESCRIPTOR(venue_time), ${window}))
GROUP BY window_start, window_end, window_time, base;
