-- One topic of the recording as the job's ${topic}_raw source (sql/flink/10_source_topic.sql
-- in streaming): the message text as payload and its ts as event time, so every statement
-- after this one is the job's own. A file has no Kafka partition or offset.
-- Rows outside the chunk's span [from_ms, to_ms) (warm-up included) are left out here.
CREATE TEMPORARY VIEW ${topic}_raw AS
SELECT payload, TO_TIMESTAMP_LTZ(ts_ms, 3) AS event_time, 0 AS kafka_partition,
  CAST(NULL AS BIGINT) AS kafka_offset
FROM recording
WHERE topic = '${topic}' AND ts_ms >= ${from_ms} AND ts_ms < ${to_ms};
