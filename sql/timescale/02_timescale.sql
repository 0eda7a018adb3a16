-- With the timescaledb extension (the container stack; apply.sh sets :timescale), every
-- time-series table becomes a hypertable partitioned on its time column. Each primary key
-- already contains that column, as TimescaleDB requires of unique keys, so the Flink JDBC
-- upsert (INSERT ... ON CONFLICT DO UPDATE) works unchanged. dead_letters stays a plain
-- table: its key is the Kafka position, its event_time may be NULL, and it stays small.
-- Chunk sizes: one day for the one-minute per-asset series (about 72k rows per venue for
-- 50 assets), a week or a month for the small market-wide and event tables.
\if :timescale
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('features_1m', by_range('window_start', INTERVAL '1 day'),
                         if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('risk_scores', by_range('window_start', INTERVAL '1 day'),
                         if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('stablecoin_pressure', by_range('window_start', INTERVAL '7 days'),
                         if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('liquidations', by_range('event_time', INTERVAL '1 day'),
                         if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('alerts', by_range('window_start', INTERVAL '30 days'),
                         if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('source_health', by_range('reported_at', INTERVAL '1 day'),
                         if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('topic_events_1m', by_range('window_start', INTERVAL '7 days'),
                         if_not_exists => TRUE, migrate_data => TRUE);
\endif
