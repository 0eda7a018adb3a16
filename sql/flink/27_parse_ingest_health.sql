-- ingest_health: each ingest source's own report every few seconds (docs/contract.md), copied
-- into source_health so a dashboard can show a dead feed. Not windowed: every report is
-- kept, keyed by (source, reported_at). A report that breaks the contract is a dead letter.
CREATE TEMPORARY VIEW ingest_health_checked AS
SELECT *,
  CASE
    WHEN j IS NULL THEN 'not a JSON object'
    WHEN source IS NULL OR source = '' THEN 'source: missing'
    WHEN reported_ms IS NULL THEN 'ts: missing or not epoch milliseconds'
    WHEN j.last_event_ts IS NOT NULL AND last_event_ms IS NULL
      THEN 'last_event_ts: not epoch milliseconds'
    WHEN messages IS NULL OR messages < 0 THEN 'messages: missing or not a count'
    WHEN errors IS NULL OR errors < 0 THEN 'errors: missing or not a count'
    WHEN dead_letter_count IS NULL OR dead_letter_count < 0
      THEN 'dead_letters: missing or not a count'
    WHEN state IS NULL OR state NOT IN ('up', 'degraded', 'down')
      THEN 'state: must be up, degraded or down'
  END AS problem
FROM (
  SELECT payload, kafka_partition, kafka_offset, event_time, j,
    j.source AS source,
    j.ts AS reported_ms,
    TRY_CAST(j.last_event_ts AS BIGINT) AS last_event_ms,  -- text, to tell bad from absent
    j.messages AS messages,
    j.errors AS errors,
    j.dead_letters AS dead_letter_count,
    LOWER(j.state) AS state
  FROM (
    SELECT *, JSON_ROW(payload, 'source STRING, ts BIGINT, last_event_ts STRING,
      messages BIGINT, errors BIGINT, dead_letters BIGINT, state STRING') AS j
    FROM ingest_health_raw
  )
);
