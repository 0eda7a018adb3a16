-- Compression and retention ages, from settings (apply.sh passes LCM_COMPRESS_AFTER,
-- LCM_RETAIN_RAW, LCM_RETAIN_ROLLUPS as psql variables; 'off' disables one). Run on every
-- apply, so a changed setting takes effect at the next `make db-init`; a policy already at
-- the wanted age is left as it is (same job, same schedule). TimescaleDB only: plain
-- PostgreSQL has no job scheduler, there the tables keep everything.
\if :timescale
-- psql does not substitute variables inside dollar-quoted bodies: hand them over as
-- session settings.
SELECT set_config('lcm.compress_after', :'compress_after', false),
       set_config('lcm.retain_raw', :'retain_raw', false),
       set_config('lcm.retain_rollups', :'retain_rollups', false);

-- (Re)create the compression or retention policy of one hypertable or continuous
-- aggregate unless it already has that age. age = 'off' removes it.
CREATE OR REPLACE FUNCTION pg_temp.lcm_set_policy(rel text, kind text, age text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  proc text := CASE kind WHEN 'compression' THEN 'policy_compression' ELSE 'policy_retention' END;
  key  text := CASE kind WHEN 'compression' THEN 'compress_after' ELSE 'drop_after' END;
  have interval;
  want interval;
BEGIN
  -- (Jobs of a continuous aggregate are listed under the view's name.)
  SELECT (config ->> key)::interval INTO have
  FROM timescaledb_information.jobs
  WHERE proc_name = proc AND hypertable_schema = 'public' AND hypertable_name = rel;
  IF lower(age) <> 'off' THEN
    want := age::interval;
  END IF;
  IF have IS NOT DISTINCT FROM want THEN
    RETURN;
  END IF;
  IF kind = 'compression' THEN
    PERFORM remove_compression_policy(rel, if_exists => TRUE);
    IF want IS NOT NULL THEN PERFORM add_compression_policy(rel, compress_after => want); END IF;
  ELSE
    PERFORM remove_retention_policy(rel, if_exists => TRUE);
    IF want IS NOT NULL THEN PERFORM add_retention_policy(rel, drop_after => want); END IF;
  END IF;
END
$$;

DO $$
DECLARE
  raw_tables text[] := ARRAY['features_1m', 'risk_scores', 'stablecoin_pressure', 'liquidations',
                             'source_health', 'topic_events_1m', 'long_short_ratios',
                             'liquidation_levels'];
  -- Alerts are few and are the history people look back on: they live as long as the rollups.
  long_lived text[] := ARRAY['alerts', 'risk_scores_5m', 'risk_scores_1h', 'features_5m',
                             'features_1h', 'stablecoin_pressure_5m', 'stablecoin_pressure_1h'];
  retain_raw text := current_setting('lcm.retain_raw');
  rel text;
BEGIN
  -- The hourly rollups re-read the last three days of raw rows on each refresh
  -- (04_rollups.sql); dropping raw rows inside that range would empty their buckets.
  IF lower(retain_raw) <> 'off' AND retain_raw::interval <= INTERVAL '3 days' THEN
    RAISE EXCEPTION 'LCM_RETAIN_RAW = % is too short: it must exceed 3 days, the refresh range of the hourly rollups', retain_raw;
  END IF;
  FOREACH rel IN ARRAY ARRAY['features_1m', 'risk_scores', 'stablecoin_pressure', 'liquidations',
                             'alerts', 'source_health', 'topic_events_1m', 'long_short_ratios',
                             'liquidation_levels'] LOOP
    PERFORM pg_temp.lcm_set_policy(rel, 'compression', current_setting('lcm.compress_after'));
  END LOOP;
  FOREACH rel IN ARRAY raw_tables LOOP
    PERFORM pg_temp.lcm_set_policy(rel, 'retention', retain_raw);
  END LOOP;
  FOREACH rel IN ARRAY long_lived LOOP
    PERFORM pg_temp.lcm_set_policy(rel, 'retention', current_setting('lcm.retain_rollups'));
  END LOOP;
END
$$;
\endif
