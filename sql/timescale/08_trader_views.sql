-- What the trader panels read beyond the scores (issue 16): whether a liquidation came from
-- a sampled feed, every long/short report with its population, and the estimated
-- liquidation-level map. The Flink job writes them (sql/flink/61_trader_sinks.sql declares
-- the same keys, so a replay is an upsert). Re-runnable, like every migration here.

-- Binance and OKX push at most one liquidation per symbol per interval: their sums are
-- lower bounds. NULL: the producer did not say (recordings made before the field).
ALTER TABLE liquidations ADD COLUMN IF NOT EXISTS sampled boolean;

-- One row per long/short report: the share of accounts ('accounts') or of the largest
-- traders' positions ('top_positions') that is net long, per venue and symbol.
CREATE TABLE IF NOT EXISTS long_short_ratios (
  base         text        NOT NULL,
  venue        text        NOT NULL,
  population   text        NOT NULL,
  symbol       text        NOT NULL,
  reported_at  timestamptz NOT NULL,
  long_share   double precision NOT NULL CHECK (long_share BETWEEN 0 AND 1),
  PRIMARY KEY (base, venue, population, symbol, reported_at)
);

-- The estimated liquidation-level map (docs/liquidation-map.md): per asset and minute, the
-- largest price buckets where positions opened over the last hours would be force-closed.
-- side 'long': longs are liquidated if price falls into the bucket; 'short': rises into it.
-- bucket is the index on a log-scale grid ([price_low, price_high) = [(1+b)^i, (1+b)^(i+1))),
-- the same every minute, so a heatmap lines up over time. A minute's rows are the whole map
-- of that minute: a bucket not written that minute held less than the configured minimum.
CREATE TABLE IF NOT EXISTS liquidation_levels (
  base          text        NOT NULL,
  window_start  timestamptz NOT NULL,
  side          text        NOT NULL CHECK (side IN ('long', 'short')),
  bucket        integer     NOT NULL,
  window_end    timestamptz NOT NULL,
  price_low     double precision NOT NULL CHECK (price_low > 0),
  price_high    double precision NOT NULL CHECK (price_high > price_low),
  notional_usd  double precision NOT NULL CHECK (notional_usd >= 0),
  PRIMARY KEY (base, window_start, side, bucket)
);

-- The overview reads the newest report of every venue and population of the shown assets
-- before a time: the primary key serves one asset and venue; this serves "the last hour".
CREATE INDEX IF NOT EXISTS long_short_ratios_time_idx ON long_short_ratios (reported_at DESC);

\if :timescale
SELECT create_hypertable('long_short_ratios', by_range('reported_at', INTERVAL '7 days'),
                         if_not_exists => TRUE, migrate_data => TRUE);
-- About 50 rows per asset and minute: one-day chunks, as the one-minute series.
SELECT create_hypertable('liquidation_levels', by_range('window_start', INTERVAL '1 day'),
                         if_not_exists => TRUE, migrate_data => TRUE);
-- Compression as 05_compression.sql does for the other series (the age is a setting,
-- every_run/10_policies.sql): one asset's range is a few compressed batches.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    SELECT * FROM (VALUES
      ('long_short_ratios',  'base, venue', 'reported_at DESC'),
      ('liquidation_levels', 'base',        'window_start DESC, side, bucket')
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
