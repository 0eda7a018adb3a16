-- TimescaleDB native compression of the hypertables (the age at which chunks are
-- compressed is a setting: every_run/10_policies.sql). Segmenting by the series identity
-- and ordering by time keeps one asset's range query to a few compressed batches, and lets
-- an upsert of a late window into a compressed chunk decompress only its own batch.
-- Idempotent: a table already set up is left alone (changing the settings of a table with
-- compressed chunks would fail).
\if :timescale
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT * FROM (VALUES
      ('features_1m',         'base, venue', 'window_start DESC'),
      ('risk_scores',         'base, venue', 'window_start DESC'),
      ('stablecoin_pressure', '',            'window_start DESC'),
      ('liquidations',        'base',        'event_time DESC, dedup_key'),
      ('alerts',              'base',        'window_start DESC'),
      ('source_health',       'source',      'reported_at DESC'),
      ('topic_events_1m',     'topic',       'window_start DESC')
    ) AS s (tbl, segmentby, orderby)
  LOOP
    IF NOT (SELECT compression_enabled FROM timescaledb_information.hypertables
            WHERE hypertable_schema = 'public' AND hypertable_name = t.tbl) THEN
      EXECUTE format('ALTER TABLE %I SET (timescaledb.compress, '
                     'timescaledb.compress_segmentby = %L, timescaledb.compress_orderby = %L)',
                     t.tbl, t.segmentby, t.orderby);
    END IF;
  END LOOP;
END
$$;
\endif
