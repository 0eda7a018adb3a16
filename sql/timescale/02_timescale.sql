-- With the timescaledb extension available (the container stack), time-partition the
-- series tables; on plain PostgreSQL this file changes nothing and the tables above
-- work as they are. Chunks of one day suit one-minute rows for tens of assets.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    PERFORM create_hypertable('features_1m', 'window_start', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
    PERFORM create_hypertable('risk_scores', 'window_start', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
    PERFORM create_hypertable('stablecoin_pressure', 'window_start', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
    PERFORM create_hypertable('liquidations', 'event_time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
  ELSE
    RAISE NOTICE 'timescaledb extension not available: keeping plain tables';
  END IF;
END
$$;
