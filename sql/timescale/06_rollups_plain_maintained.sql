-- Plain PostgreSQL only: keep the rollups as tables updated on every write, so the rollup
-- views (same names and columns as the continuous aggregates, 04_rollups.sql) read a few
-- thousand stored buckets instead of aggregating millions of one-minute rows per query.
-- Measured by bench.storage: the 30-day risk panel went from about 1.5 s to the figures in
-- docs/storage.md. TimescaleDB does this with continuous aggregates, so there this file
-- does nothing.
--
-- How: a statement-level trigger on each source table (after INSERT and after UPDATE, so
-- the Flink upsert, INSERT ... ON CONFLICT DO UPDATE, fires one of them or both) takes the
-- rows the statement wrote, and recomputes every 5-minute and 1-hour bucket they touch
-- from the raw rows, with the same expressions the views used. A bucket therefore always
-- equals the aggregate of its raw rows, whatever the order and repetition of writes.
-- The tables are public.rollup_store_*: readable like every table (the dashboard tests
-- check plans against what the reader sees), never writable by the writer (excluded in
-- every_run/20_grants.sql); the functions live in schema lcm_rollups and the trigger
-- function runs as its owner (SECURITY DEFINER).
-- Generated, with 04_rollups.sql, by sql/timescale/rollups.py.
\if :timescale
\else

CREATE SCHEMA IF NOT EXISTS lcm_rollups;
REVOKE ALL ON SCHEMA lcm_rollups FROM PUBLIC;

CREATE TABLE IF NOT EXISTS public.rollup_store_risk_scores (
  width          interval    NOT NULL,
  base           text        NOT NULL,
  venue          text        NOT NULL,
  bucket         timestamptz NOT NULL,
  risk_max       double precision,
  risk_avg       double precision,
  long_risk_max  double precision,
  short_risk_max double precision,
  pressure_avg   double precision,
  confidence_min double precision,
  PRIMARY KEY (width, venue, bucket, base)
);

CREATE TABLE IF NOT EXISTS public.rollup_store_features (
  width             interval    NOT NULL,
  base              text        NOT NULL,
  venue             text        NOT NULL,
  bucket            timestamptz NOT NULL,
  price_last        double precision,
  funding_8h_avg    double precision,
  oi_usd_last       double precision,
  long_share_avg    double precision,
  liq_long_usd_sum  double precision,
  liq_short_usd_sum double precision,
  events_sum        numeric,
  PRIMARY KEY (width, venue, bucket, base)
);

CREATE TABLE IF NOT EXISTS public.rollup_store_stablecoin_pressure (
  width           interval    NOT NULL,
  bucket          timestamptz NOT NULL,
  inflow_usd_sum  double precision,
  outflow_usd_sum double precision,
  pressure_avg    double precision,
  PRIMARY KEY (width, bucket)
);

-- Helpers of the statements below. With `changed` a transition table: the raw rows of
-- every bucket (of width $1) that one of its rows falls in, found through the primary key;
-- with NULL: all raw rows (the initial fill, one scan).
CREATE OR REPLACE FUNCTION lcm_rollups.bucket_of(changed text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE WHEN changed IS NULL
    THEN 'date_bin($1, s.window_start, TIMESTAMPTZ ''2000-01-03 00:00:00+00'')'
    ELSE 'k.bucket' END
$fn$;

CREATE OR REPLACE FUNCTION lcm_rollups.rows_of(source text, changed text, per_series boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
  SELECT CASE WHEN changed IS NULL THEN format('public.%I s', source)
    WHEN per_series THEN format(
      '(SELECT DISTINCT base, venue, date_bin($1, window_start, '
      'TIMESTAMPTZ ''2000-01-03 00:00:00+00'') AS bucket FROM %I) AS k '
      'JOIN public.%I s ON s.base = k.base AND s.venue = k.venue '
      'AND s.window_start >= k.bucket AND s.window_start < k.bucket + $1', changed, source)
    ELSE format(
      '(SELECT DISTINCT date_bin($1, window_start, '
      'TIMESTAMPTZ ''2000-01-03 00:00:00+00'') AS bucket FROM %I) AS k '
      'JOIN public.%I s ON s.window_start >= k.bucket AND s.window_start < k.bucket + $1',
      changed, source)
    END
$fn$;

-- The statement that recomputes the buckets of width $1 touched by the rows in `changed`
-- (NULL: all buckets). Text, run by the trigger function itself: transition tables are
-- visible only to the trigger's own queries.
CREATE OR REPLACE FUNCTION lcm_rollups.risk_scores_sql(changed text)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
  SELECT format($q$
    INSERT INTO public.rollup_store_risk_scores AS r
    SELECT $1, s.base, s.venue, %s,
           max(s.risk), avg(s.risk), max(s.long_risk), max(s.short_risk),
           avg(s.pressure), min(s.confidence)
    FROM %s
    GROUP BY 2, 3, 4
    ON CONFLICT (width, venue, bucket, base) DO UPDATE SET
      risk_max = EXCLUDED.risk_max, risk_avg = EXCLUDED.risk_avg,
      long_risk_max = EXCLUDED.long_risk_max, short_risk_max = EXCLUDED.short_risk_max,
      pressure_avg = EXCLUDED.pressure_avg, confidence_min = EXCLUDED.confidence_min
  $q$, lcm_rollups.bucket_of(changed), lcm_rollups.rows_of('risk_scores', changed, true))
$fn$;

CREATE OR REPLACE FUNCTION lcm_rollups.features_sql(changed text)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
  SELECT format($q$
    INSERT INTO public.rollup_store_features AS r
    SELECT $1, s.base, s.venue, %s,
           (array_agg(s.price ORDER BY s.window_start DESC)
              FILTER (WHERE s.price IS NOT NULL))[1],
           avg(s.funding_8h),
           (array_agg(s.oi_usd ORDER BY s.window_start DESC)
              FILTER (WHERE s.oi_usd IS NOT NULL))[1],
           avg(s.long_share), sum(s.liq_long_usd), sum(s.liq_short_usd), sum(s.events)
    FROM %s
    GROUP BY 2, 3, 4
    ON CONFLICT (width, venue, bucket, base) DO UPDATE SET
      price_last = EXCLUDED.price_last, funding_8h_avg = EXCLUDED.funding_8h_avg,
      oi_usd_last = EXCLUDED.oi_usd_last, long_share_avg = EXCLUDED.long_share_avg,
      liq_long_usd_sum = EXCLUDED.liq_long_usd_sum,
      liq_short_usd_sum = EXCLUDED.liq_short_usd_sum, events_sum = EXCLUDED.events_sum
  $q$, lcm_rollups.bucket_of(changed), lcm_rollups.rows_of('features_1m', changed, true))
$fn$;

CREATE OR REPLACE FUNCTION lcm_rollups.stablecoin_pressure_sql(changed text)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
  SELECT format($q$
    INSERT INTO public.rollup_store_stablecoin_pressure AS r
    SELECT $1, %s, sum(s.inflow_usd), sum(s.outflow_usd), avg(s.pressure)
    FROM %s
    GROUP BY 2
    ON CONFLICT (width, bucket) DO UPDATE SET
      inflow_usd_sum = EXCLUDED.inflow_usd_sum, outflow_usd_sum = EXCLUDED.outflow_usd_sum,
      pressure_avg = EXCLUDED.pressure_avg
  $q$, lcm_rollups.bucket_of(changed),
     lcm_rollups.rows_of('stablecoin_pressure', changed, false))
$fn$;

-- The trigger function: TG_ARGV[0] names the family; the statement's rows are `changed`.
CREATE OR REPLACE FUNCTION lcm_rollups.on_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
  q text;
  w interval;
BEGIN
  -- An upsert fires both the INSERT and the UPDATE trigger; one of them has no rows.
  IF NOT EXISTS (SELECT FROM changed) THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT lcm_rollups.%I(%L)', TG_ARGV[0] || '_sql', 'changed') INTO q;
  FOREACH w IN ARRAY ARRAY[INTERVAL '5 minutes', INTERVAL '1 hour'] LOOP
    EXECUTE q USING w;
  END LOOP;
  RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION lcm_rollups.on_write() FROM PUBLIC;

-- Recompute every bucket from all raw rows, one scan per source table: the initial fill
-- below, and after a bulk load with the triggers disabled (bench.storage does that).
CREATE OR REPLACE FUNCTION lcm_rollups.fill() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $fn$
DECLARE
  family text;
  q text;
BEGIN
  FOREACH family IN ARRAY ARRAY['risk_scores', 'features', 'stablecoin_pressure'] LOOP
    EXECUTE format('SELECT lcm_rollups.%I(NULL)', family || '_sql') INTO q;
    EXECUTE q USING INTERVAL '5 minutes';
    EXECUTE q USING INTERVAL '1 hour';
  END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION lcm_rollups.fill() FROM PUBLIC;

DO $$
DECLARE
  src text[];
BEGIN
  FOREACH src SLICE 1 IN ARRAY ARRAY[['risk_scores', 'risk_scores'],
                                     ['features_1m', 'features'],
                                     ['stablecoin_pressure', 'stablecoin_pressure']] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS rollups_on_insert ON %I', src[1]);
    EXECUTE format('DROP TRIGGER IF EXISTS rollups_on_update ON %I', src[1]);
    EXECUTE format('CREATE TRIGGER rollups_on_insert AFTER INSERT ON %I REFERENCING NEW TABLE '
                   'AS changed FOR EACH STATEMENT EXECUTE FUNCTION lcm_rollups.on_write(%L)',
                   src[1], src[2]);
    EXECUTE format('CREATE TRIGGER rollups_on_update AFTER UPDATE ON %I REFERENCING NEW TABLE '
                   'AS changed FOR EACH STATEMENT EXECUTE FUNCTION lcm_rollups.on_write(%L)',
                   src[1], src[2]);
  END LOOP;
END
$$;
-- Rows written before this migration (an existing database): fill their buckets.
SELECT lcm_rollups.fill();

-- The contract's views, now reading the stored buckets (same names, columns and types).
CREATE OR REPLACE VIEW risk_scores_5m AS
SELECT base, venue, bucket, risk_max, risk_avg, long_risk_max, short_risk_max, pressure_avg,
       confidence_min
FROM public.rollup_store_risk_scores WHERE width = INTERVAL '5 minutes';
CREATE OR REPLACE VIEW risk_scores_1h AS
SELECT base, venue, bucket, risk_max, risk_avg, long_risk_max, short_risk_max, pressure_avg,
       confidence_min
FROM public.rollup_store_risk_scores WHERE width = INTERVAL '1 hour';
CREATE OR REPLACE VIEW features_5m AS
SELECT base, venue, bucket, price_last, funding_8h_avg, oi_usd_last, long_share_avg,
       liq_long_usd_sum, liq_short_usd_sum, events_sum
FROM public.rollup_store_features WHERE width = INTERVAL '5 minutes';
CREATE OR REPLACE VIEW features_1h AS
SELECT base, venue, bucket, price_last, funding_8h_avg, oi_usd_last, long_share_avg,
       liq_long_usd_sum, liq_short_usd_sum, events_sum
FROM public.rollup_store_features WHERE width = INTERVAL '1 hour';
CREATE OR REPLACE VIEW stablecoin_pressure_5m AS
SELECT bucket, inflow_usd_sum, outflow_usd_sum, pressure_avg
FROM public.rollup_store_stablecoin_pressure WHERE width = INTERVAL '5 minutes';
CREATE OR REPLACE VIEW stablecoin_pressure_1h AS
SELECT bucket, inflow_usd_sum, outflow_usd_sum, pressure_avg
FROM public.rollup_store_stablecoin_pressure WHERE width = INTERVAL '1 hour';

\endif
