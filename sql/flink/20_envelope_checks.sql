-- The fields every message carries (docs/contract.md), checked the same way on every topic.
-- The job runs this file once per input topic; the per-topic views add their own fields.
-- JSON_FIELDS (flink_jobs/java) parses the record once into a map of its fields; it is
-- NULL for anything that is not one JSON object. `envelope_problem` names the first thing
-- wrong with the record, or is NULL when it is usable.
CREATE TEMPORARY VIEW ${topic}_envelope AS
SELECT *,
  CASE
    WHEN f IS NULL THEN 'not a JSON object'
    WHEN ts IS NULL THEN 'ts: missing or not epoch milliseconds'
    WHEN venue IS NULL THEN 'exchange/chain: missing'
    WHEN symbol IS NULL THEN 'symbol: missing'
    WHEN base IS NULL OR base = '' THEN 'base: missing'
    WHEN event_time <> TO_TIMESTAMP_LTZ(ts, 3)
      THEN 'ts: differs from the Kafka record timestamp (producers must set it to ts)'
  END AS envelope_problem
FROM (
  SELECT payload, kafka_partition, kafka_offset, event_time, f,
    COALESCE(f['exchange'], f['chain']) AS venue,
    f['symbol'] AS symbol,
    UPPER(f['base']) AS base,
    TRY_CAST(f['ts'] AS BIGINT) AS ts
  FROM (SELECT *, JSON_FIELDS(payload) AS f FROM ${topic}_raw)
);
