-- One Kafka topic as a source table; the job runs this file once per input topic.
-- The value is read as raw text, not with the 'json' format: a record that is not JSON
-- must reach the dead-letter path with its text, and the json format would either fail
-- the job or drop it silently. 20_envelope_checks.sql parses it, once.
-- Event time is the Kafka record timestamp, which every producer sets to the message's
-- own `ts` (20_envelope_checks.sql dead-letters a record where the two differ). Reading
-- it needs no JSON parsing, it is never NULL, and one malformed `ts` cannot drag the
-- watermark anywhere.
-- kafka_properties: bootstrap servers and security settings (SASL, TLS), the same for
-- every Kafka table of the job (flink_jobs/job.py kafka_options).
CREATE TEMPORARY TABLE ${topic}_raw (
  payload         STRING,
  event_time      TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  kafka_partition INT              METADATA FROM 'partition' VIRTUAL,
  kafka_offset    BIGINT           METADATA FROM 'offset' VIRTUAL,
  WATERMARK FOR event_time AS event_time - INTERVAL '${watermark_delay_s}' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = '${topic_prefix}${topic}',
  ${kafka_properties},
  'properties.group.id' = '${consumer_group}',
  'scan.startup.mode' = '${startup_mode}',
  -- A data partition with no records for this long stops holding the watermark back.
  -- The heartbeat topic never goes idle (0 = off): it is the job's clock, so when every
  -- data partition is quiet, time still moves, and if heartbeats stop, time waits.
  'scan.watermark.idle-timeout' = '${idle_timeout}',
  'format' = 'raw',
  'raw.charset' = 'UTF-8'
);
