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
CREATE TEMPORARY TABLE ${topic}_kafka (
  record_key      STRING,
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
  -- Idleness is off for every input by default (pipeline.idle_timeout_s = 0): producers
  -- send heartbeats to every partition, so a quiet partition still moves. A partition
  -- that counted as idle during a Kafka outage would be skipped when the broker returns,
  -- and the partitions read first would carry the watermark past its unread backlog.
  -- The heartbeat topic is never idle: if heartbeats stop, time waits.
  'scan.watermark.idle-timeout' = '${idle_timeout}',
  'key.format' = 'raw',
  'key.raw.charset' = 'UTF-8',
  'key.fields' = 'record_key',
  'value.format' = 'raw',
  'value.raw.charset' = 'UTF-8',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Heartbeats on a data topic (Kafka key '${heartbeat_key}', lcm.kafka_io.heartbeat) have
-- moved this partition's watermark in the source above; past that they carry nothing.
CREATE TEMPORARY VIEW ${topic}_raw AS
SELECT payload, event_time, kafka_partition, kafka_offset
FROM ${topic}_kafka
WHERE record_key IS NULL OR record_key <> '${heartbeat_key}';
