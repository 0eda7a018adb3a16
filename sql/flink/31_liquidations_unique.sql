-- One row per liquidation per minute: a liquidation delivered twice (a replay, a producer
-- retry) has one dedup_key and counts once. The minute's rowtime carries it onward.
-- Heartbeats join the input only for their watermark: when no liquidation arrives for a
-- while, the minute still closes instead of waiting for the next liquidation.
CREATE TEMPORARY VIEW liquidations_ticking AS
SELECT event_time, venue, base, dedup_key, side, notional_usd, ts
FROM liquidations_checked WHERE problem IS NULL
UNION ALL
SELECT event_time, venue, base, venue, venue, CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT)
FROM heartbeats;

CREATE TEMPORARY VIEW liquidations_unique AS
SELECT
  window_time AS event_time, venue, base, dedup_key,
  MAX(side) AS side, MAX(notional_usd) AS notional_usd, MAX(ts) AS ts
FROM TABLE(TUMBLE(TABLE liquidations_ticking, DESCRIPTOR(event_time), ${window}))
GROUP BY window_start, window_end, window_time, venue, base, dedup_key;
