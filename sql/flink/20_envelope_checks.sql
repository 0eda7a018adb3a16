-- The fields every message carries (docs/contract.md), checked the same way on every topic.
-- The job runs this file once per input topic; the per-topic views add their own fields.
-- JSON_ROW (flink_jobs/java) parses the record once, in one pass, straight into a typed row
-- of the contract's fields below (a number that does not convert is NULL, as TRY_CAST
-- would give); it is NULL for anything that is not one JSON object. A field a topic does
-- not carry stays NULL and costs nothing. `envelope_problem` names the first thing wrong
-- with the record, or is NULL when it is usable.
CREATE TEMPORARY VIEW ${topic}_envelope AS
SELECT *,
  CASE
    WHEN j IS NULL THEN 'not a JSON object'
    WHEN ts IS NULL THEN 'ts: missing or not epoch milliseconds'
    WHEN venue IS NULL THEN 'exchange/chain: missing'
    WHEN symbol IS NULL THEN 'symbol: missing'
    WHEN base IS NULL OR base = '' THEN 'base: missing'
    WHEN event_time <> TO_TIMESTAMP_LTZ(ts, 3)
      THEN 'ts: differs from the Kafka record timestamp (producers must set it to ts)'
  END AS envelope_problem
FROM (
  SELECT payload, kafka_partition, kafka_offset, event_time, j,
    COALESCE(j.exchange, j.chain) AS venue,
    j.symbol AS symbol,
    UPPER(j.base) AS base,
    j.ts AS ts
  FROM (
    SELECT *, JSON_ROW(payload, 'exchange STRING, chain STRING, symbol STRING, base STRING,
      ts BIGINT, price DOUBLE,
      funding_rate DOUBLE, interval_hours DOUBLE, mark_price DOUBLE,
      oi_usd DOUBLE,
      side STRING, notional_usd DOUBLE, qty DOUBLE, id STRING, sampled STRING,
      long_share DOUBLE, population STRING,
      amount_usd DOUBLE, direction STRING, tx_hash STRING, log_index BIGINT') AS j
    FROM ${topic}_raw
  )
);
