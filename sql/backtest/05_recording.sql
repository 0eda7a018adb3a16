-- The backtest's input: recorded envelopes {"topic": ..., "value": {...}}, one per line, in
-- every file under input_path (plain or .gz: the filesystem source decompresses by name).
-- The same shape `python -m ingest record`, `backfill` and `backtest.csv_import` write.
CREATE TEMPORARY TABLE recording_lines (
  line STRING,
  file_path STRING NOT NULL METADATA FROM 'file.path'
) WITH (
  'connector' = 'filesystem',
  'path' = '${input_path}',
  'format' = 'raw',
  'raw.charset' = 'UTF-8'
);

-- Each line parsed once into its envelope, and the message once into its fields (for ts).
-- ts_ms is the event time (epoch ms); the chunk keeps [from_ms, to_ms).
CREATE TEMPORARY VIEW recording AS
SELECT line, file_path, topic, payload, TRY_CAST(vf['ts'] AS BIGINT) AS ts_ms
FROM (
  SELECT line, file_path, env['topic'] AS topic, env['value'] AS payload,
    JSON_FIELDS(env['value']) AS vf
  FROM (SELECT line, file_path, JSON_FIELDS(line) AS env FROM recording_lines)
);

-- Lines the job cannot read as a message of a data topic, with the reason: counted in the
-- backtest report, never dropped silently (the replay would send them to the dead letters).
CREATE TEMPORARY VIEW recording_rejected AS
SELECT file_path, reason, line
FROM (
  SELECT file_path, line,
    CASE
      WHEN topic IS NULL AND payload IS NULL THEN 'not an envelope {"topic": ..., "value": {...}}'
      WHEN topic NOT IN (${data_topics}) THEN 'topic: not a data topic'
      WHEN ts_ms IS NULL THEN 'value.ts: missing or not epoch milliseconds'
    END AS reason
  FROM recording
  WHERE TRIM(line) <> ''
)
WHERE reason IS NOT NULL;
