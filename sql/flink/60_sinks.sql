-- Where results go. Times are TIMESTAMP(3) in UTC (the JDBC connector has no LTZ type;
-- the session and TaskManager time zones are UTC). JDBC tables declare the same primary keys as sql/timescale/, which
-- turns every write into INSERT ... ON CONFLICT DO UPDATE: a replay rewrites, not adds.
-- The jdbc parameter holds the connection options (url, user, password, flush settings);
-- kafka_properties the Kafka client's (bootstrap servers, SASL/TLS), as in 10_source_topic.sql.
CREATE TEMPORARY TABLE features_1m_sink (
  base STRING, venue STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3),
  price DOUBLE, funding_8h DOUBLE, oi_usd DOUBLE, oi_change_pct DOUBLE, price_change_pct DOUBLE,
  long_share DOUBLE, liq_long_usd DOUBLE, liq_short_usd DOUBLE, liq_count BIGINT, events BIGINT,
  top_long_share DOUBLE,
  PRIMARY KEY (base, venue, window_start) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'features_1m');

CREATE TEMPORARY TABLE risk_scores_sink (
  base STRING, venue STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3),
  risk DOUBLE, side STRING, long_risk DOUBLE, short_risk DOUBLE,
  funding_pts DOUBLE, oi_buildup_pts DOUBLE, imbalance_pts DOUBLE, liquidation_pts DOUBLE,
  confidence DOUBLE, components STRING, data_age_s DOUBLE, pressure DOUBLE, level STRING,
  liquidation_recent_pts DOUBLE, price_move_pts DOUBLE, top_imbalance_pts DOUBLE,
  pressure_pts DOUBLE,
  PRIMARY KEY (base, venue, window_start) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'risk_scores');

CREATE TEMPORARY TABLE stablecoin_pressure_sink (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), inflow_usd DOUBLE, outflow_usd DOUBLE,
  internal_usd DOUBLE, transfers BIGINT, baseline_usd DOUBLE, pressure DOUBLE,
  PRIMARY KEY (window_start) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'stablecoin_pressure');

CREATE TEMPORARY TABLE alerts_sink (
  base STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), alert_id STRING,
  level STRING, previous_level STRING, side STRING, risk DOUBLE, long_risk DOUBLE,
  short_risk DOUBLE, funding_pts DOUBLE, oi_buildup_pts DOUBLE, imbalance_pts DOUBLE,
  liquidation_pts DOUBLE, pressure DOUBLE, confidence DOUBLE, components STRING,
  PRIMARY KEY (base, window_start) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'alerts');

CREATE TEMPORARY TABLE liquidations_sink (
  event_time TIMESTAMP(3), dedup_key STRING, venue STRING, symbol STRING, base STRING,
  side STRING, price DOUBLE, qty DOUBLE, notional_usd DOUBLE, sampled BOOLEAN,
  PRIMARY KEY (event_time, dedup_key) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'liquidations');

CREATE TEMPORARY TABLE dead_letters_sink (
  topic STRING, kafka_partition INT, kafka_offset BIGINT, event_time TIMESTAMP(3),
  problem STRING, payload STRING,
  PRIMARY KEY (topic, kafka_partition, kafka_offset) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'dead_letters');

-- Alerts also go to Kafka for the notifier, keyed by asset so one asset's alerts stay in
-- order. The value is the flat JSON object of docs/contract.md, fields in this order; times
-- are strings 'YYYY-MM-DD HH:MM:SS' (UTC), a missing value is null.
-- Exactly once: written in Kafka transactions committed when a checkpoint completes, so a
-- job restarted from a checkpoint never publishes an alert twice to a reader of committed
-- records (the notifier). The cost: an alert becomes visible up to one checkpoint interval
-- later. The transaction timeout is the broker's maximum (15 min), well above a checkpoint
-- interval plus a restart.
CREATE TEMPORARY TABLE alerts_topic (
  alert_id STRING, base STRING, level STRING, previous_level STRING, side STRING,
  risk DOUBLE, long_risk DOUBLE, short_risk DOUBLE, funding_pts DOUBLE,
  oi_buildup_pts DOUBLE, imbalance_pts DOUBLE, liquidation_pts DOUBLE, pressure DOUBLE,
  confidence DOUBLE, components STRING, window_start STRING, window_end STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '${topic_prefix}${alerts_topic}',
  ${kafka_properties},
  'key.format' = 'raw',
  'key.fields' = 'base',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = '${transactional_id_prefix}',
  'properties.transaction.timeout.ms' = '900000'
);

-- Ingest sources' health reports (ingest_health topic) and per-topic record counts.
CREATE TEMPORARY TABLE source_health_sink (
  source STRING, reported_at TIMESTAMP(3), last_event_at TIMESTAMP(3), messages BIGINT,
  errors BIGINT, dead_letters BIGINT, state STRING,
  PRIMARY KEY (source, reported_at) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'source_health');

CREATE TEMPORARY TABLE topic_events_sink (
  topic STRING, window_start TIMESTAMP(3), events BIGINT, dead_letters BIGINT,
  PRIMARY KEY (topic, window_start) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'topic_events_1m');

-- Records read after their minute had closed (34_late_records.sql), per topic and minute.
CREATE TEMPORARY TABLE late_records_sink (
  topic STRING, window_start TIMESTAMP(3), records BIGINT,
  PRIMARY KEY (topic, window_start) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'late_records_1m');

-- Refused records with their raw text, for whoever fixes the producer.
CREATE TEMPORARY TABLE dead_letter_topic (
  topic STRING, kafka_partition INT, kafka_offset BIGINT, problem STRING, payload STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '${topic_prefix}${dead_letter_topic}',
  ${kafka_properties},
  'value.format' = 'json',
  'sink.delivery-guarantee' = 'at-least-once'
);
