-- Records the job read after its clock had closed their minute, per input topic and the
-- minute they belong to (sql/flink/34_late_records.sql). The one-minute windows cannot
-- count such a record any more, so this table is where it is not lost without a trace; the
-- pipeline dashboard shows it. It should stay empty: a row means a producer delivered
-- records later than the watermark allows (docs/operations.md, "Bad and late input").
-- A plain table, not a hypertable: like dead_letters, it stays small.
CREATE TABLE IF NOT EXISTS late_records_1m (
  topic         text        NOT NULL,
  window_start  timestamptz NOT NULL,   -- the minute the records belong to (event time)
  records       bigint      NOT NULL,
  PRIMARY KEY (topic, window_start)
);
