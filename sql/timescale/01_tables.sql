-- The tables the Flink job writes (sql/flink/60_sinks.sql declares the same keys).
-- Each primary key is the natural identity of a row, so a replayed window is an upsert.
-- Times are timestamptz in UTC; the job writes window bounds in UTC.

-- One row per venue, asset and minute, plus venue = 'all' for the all-venue aggregate.
CREATE TABLE IF NOT EXISTS features_1m (
  base             text        NOT NULL,
  venue            text        NOT NULL,
  window_start     timestamptz NOT NULL,
  window_end       timestamptz NOT NULL,
  price            double precision,
  funding_8h       double precision,  -- decimal per 8 h, OI-weighted across venues for 'all'
  oi_usd           double precision,
  oi_change_pct    double precision,  -- over the lookback in config/monitor.yaml
  price_change_pct double precision,
  long_share       double precision,
  liq_long_usd     double precision,  -- longs liquidated in the minute (NULL: none reported)
  liq_short_usd    double precision,
  liq_count        bigint,
  events           bigint,
  PRIMARY KEY (base, venue, window_start)
);

-- Liquidation Risk per venue and asset, plus venue = 'all' for the all-venue row (the one
-- alerts use). Long-cascade risk (longs forced out, price falling) and short-squeeze risk
-- are scored separately; risk is the larger and side says which. The component points
-- are those of that side. NULL component = no input, not zero points.
CREATE TABLE IF NOT EXISTS risk_scores (
  base            text        NOT NULL,
  venue           text        NOT NULL,
  window_start    timestamptz NOT NULL,
  window_end      timestamptz NOT NULL,
  risk            double precision NOT NULL CHECK (risk BETWEEN 0 AND 100),
  side            text NOT NULL CHECK (side IN ('long', 'short')),
  long_risk       double precision NOT NULL CHECK (long_risk BETWEEN 0 AND 100),
  short_risk      double precision NOT NULL CHECK (short_risk BETWEEN 0 AND 100),
  funding_pts     double precision,
  oi_buildup_pts  double precision,
  imbalance_pts   double precision,
  liquidation_pts double precision,
  confidence      double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  components      text NOT NULL,      -- comma-separated names of the components present
  data_age_s      double precision,   -- age of the stalest input at window end, seconds
  pressure        double precision,   -- market-wide stablecoin pressure of the same minute
  level           text CHECK (level IN ('INFO', 'WARNING', 'CRITICAL')),
  PRIMARY KEY (base, venue, window_start)
);

-- Market-wide stablecoin exchange flows and pressure (-100..+100, outflow positive).
CREATE TABLE IF NOT EXISTS stablecoin_pressure (
  window_start  timestamptz NOT NULL PRIMARY KEY,
  window_end    timestamptz NOT NULL,
  inflow_usd    double precision NOT NULL,
  outflow_usd   double precision NOT NULL,
  internal_usd  double precision NOT NULL,
  transfers     bigint NOT NULL,
  baseline_usd  double precision,
  pressure      double precision CHECK (pressure BETWEEN -100 AND 100)
);

-- A row each time an asset's all-venue alert level changes (after hysteresis and cooldown),
-- with what the on-call person needs to judge it. alert_id is the notifier's idempotency key.
CREATE TABLE IF NOT EXISTS alerts (
  base            text        NOT NULL,
  window_start    timestamptz NOT NULL,
  window_end      timestamptz NOT NULL,
  alert_id        text        NOT NULL,
  level           text NOT NULL CHECK (level IN ('NONE', 'INFO', 'WARNING', 'CRITICAL')),
  previous_level  text,
  side            text NOT NULL CHECK (side IN ('long', 'short')),
  risk            double precision NOT NULL,
  long_risk       double precision NOT NULL,
  short_risk      double precision NOT NULL,
  funding_pts     double precision,
  oi_buildup_pts  double precision,
  imbalance_pts   double precision,
  liquidation_pts double precision,
  pressure        double precision,
  confidence      double precision NOT NULL,
  components      text NOT NULL,
  PRIMARY KEY (base, window_start)
);

-- Every valid liquidation as received, deduplicated by its venue id (or content).
CREATE TABLE IF NOT EXISTS liquidations (
  event_time   timestamptz NOT NULL,
  dedup_key    text        NOT NULL,
  venue        text        NOT NULL,
  symbol       text        NOT NULL,
  base         text        NOT NULL,
  side         text        NOT NULL CHECK (side IN ('long', 'short')),
  price        double precision,
  qty          double precision,
  notional_usd double precision NOT NULL,
  PRIMARY KEY (event_time, dedup_key)
);

-- Records the job refused, with the reason and the raw text; keyed by their Kafka position.
CREATE TABLE IF NOT EXISTS dead_letters (
  topic           text    NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset    bigint  NOT NULL,
  event_time      timestamptz,
  problem         text    NOT NULL,
  payload         text,
  PRIMARY KEY (topic, kafka_partition, kafka_offset)
);

-- When the score row was first written: freshness on dashboards, latency in make bench.
-- The JDBC upsert does not list it, so a replay keeps the first time.
ALTER TABLE risk_scores ADD COLUMN IF NOT EXISTS
  written_at timestamptz NOT NULL DEFAULT clock_timestamp();

CREATE INDEX IF NOT EXISTS risk_scores_window_idx ON risk_scores (window_start DESC);
CREATE INDEX IF NOT EXISTS alerts_window_idx ON alerts (window_start DESC);
CREATE INDEX IF NOT EXISTS liquidations_base_idx ON liquidations (base, event_time DESC);

-- Ingest health, one row per source and report (the ingest_health topic, every few
-- seconds): the dashboard shows a dead feed by the age of last_event_at.
CREATE TABLE IF NOT EXISTS source_health (
  source        text        NOT NULL,   -- e.g. bybit, okx, etherscan
  reported_at   timestamptz NOT NULL,
  last_event_at timestamptz,            -- event time of the newest message produced
  messages      bigint      NOT NULL,   -- totals since the process started
  errors        bigint      NOT NULL,
  dead_letters  bigint      NOT NULL,
  state         text        NOT NULL,   -- up, degraded, down
  PRIMARY KEY (source, reported_at)
);

-- Events and dead letters per input topic and minute, for the pipeline-health dashboard.
CREATE TABLE IF NOT EXISTS topic_events_1m (
  topic         text        NOT NULL,
  window_start  timestamptz NOT NULL,
  events        bigint      NOT NULL,
  dead_letters  bigint      NOT NULL,
  PRIMARY KEY (topic, window_start)
);
