-- The fields every message carries (DESIGN.md §2), checked the same way on every topic.
-- The job runs this file once per input topic; the per-topic views add their own fields.
-- `problem` names the first thing wrong with the record, or is NULL when it is usable.
CREATE TEMPORARY VIEW ${topic}_envelope AS
SELECT
  payload, kafka_partition, kafka_offset, event_time, venue, symbol, base, ts,
  CASE WHEN ts IS NULL OR venue IS NULL OR symbol IS NULL OR base IS NULL OR base = '' THEN
    -- Only a record already missing something is checked for JSON syntax: a valid one
    -- has been parsed enough by JSON_VALUE, and a second full parse per record is costly.
    CASE
      WHEN payload IS NULL OR payload IS NOT JSON OBJECT THEN 'not a JSON object'
      WHEN ts IS NULL THEN 'ts: missing or not epoch milliseconds'
      WHEN venue IS NULL THEN 'exchange/chain: missing'
      WHEN symbol IS NULL THEN 'symbol: missing'
      ELSE 'base: missing'
    END
    WHEN event_time <> TO_TIMESTAMP_LTZ(ts, 3)
      THEN 'ts: differs from the Kafka record timestamp (producers must set it to ts)'
  END AS envelope_problem
FROM ${topic}_raw;
