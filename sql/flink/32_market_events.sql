-- All derivatives inputs in one wide shape (one filled measure per row), so a single
-- window aggregation per venue and asset computes every feature in one pass. ts (epoch ms,
-- = event time) lets the window record when each input was last seen (freshness).
-- long_share is the accounts population, top_long_share the top traders' positions (25).
CREATE TEMPORARY VIEW market_events AS
SELECT event_time, ts, venue, base, price,
  CAST(NULL AS DOUBLE) AS funding_8h, CAST(NULL AS DOUBLE) AS oi_usd,
  CAST(NULL AS DOUBLE) AS long_share, CAST(NULL AS DOUBLE) AS top_long_share,
  CAST(NULL AS DOUBLE) AS liq_long_usd, CAST(NULL AS DOUBLE) AS liq_short_usd
FROM prices_checked WHERE problem IS NULL
UNION ALL
SELECT event_time, ts, venue, base, CAST(NULL AS DOUBLE), funding_8h, CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
FROM funding_rates_checked WHERE problem IS NULL
UNION ALL
SELECT event_time, ts, venue, base, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), oi_usd,
  CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
FROM open_interest_checked WHERE problem IS NULL
UNION ALL
SELECT event_time, ts, venue, base, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE),
  CASE WHEN population = 'accounts' THEN long_share END,
  CASE WHEN population = 'top_positions' THEN long_share END,
  CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
FROM long_short_ratio_checked WHERE problem IS NULL
UNION ALL
SELECT event_time, ts, venue, base, CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
  CASE WHEN side = 'long' THEN notional_usd END,
  CASE WHEN side = 'short' THEN notional_usd END
FROM liquidations_unique
UNION ALL
SELECT event_time, CAST(NULL AS BIGINT), venue, base, CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE),
  CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE)
FROM heartbeats;  -- watermark only
