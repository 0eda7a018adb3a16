-- The backtest's sinks: the job's sinks (sql/flink/60_sinks.sql) under the same names and
-- columns, so the job's own INSERTs (sql/flink/70_insert.sql) run unchanged. The tables a
-- backtest reads become JSON-lines files under output_path (one directory per table);
-- the Kafka topics and the tables only live operation needs go to a blackhole.
-- tests/test_backtest_sql.py keeps the columns in step with the job's.

CREATE TEMPORARY TABLE features_1m_sink (
  base STRING, venue STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3),
  price DOUBLE, funding_8h DOUBLE, oi_usd DOUBLE, oi_change_pct DOUBLE, price_change_pct DOUBLE,
  long_share DOUBLE, liq_long_usd DOUBLE, liq_short_usd DOUBLE, liq_count BIGINT, events BIGINT,
  top_long_share DOUBLE
) WITH (
  'connector' = 'filesystem', 'path' = '${output_path}/features_1m',
  'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE risk_scores_sink (
  base STRING, venue STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3),
  risk DOUBLE, side STRING, long_risk DOUBLE, short_risk DOUBLE,
  funding_pts DOUBLE, oi_buildup_pts DOUBLE, imbalance_pts DOUBLE, liquidation_pts DOUBLE,
  confidence DOUBLE, components STRING, data_age_s DOUBLE, pressure DOUBLE, level STRING,
  liquidation_recent_pts DOUBLE, price_move_pts DOUBLE, top_imbalance_pts DOUBLE,
  pressure_pts DOUBLE
) WITH (
  'connector' = 'filesystem', 'path' = '${output_path}/risk_scores',
  'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE stablecoin_pressure_sink (
  window_start TIMESTAMP(3), window_end TIMESTAMP(3), inflow_usd DOUBLE, outflow_usd DOUBLE,
  internal_usd DOUBLE, transfers BIGINT, baseline_usd DOUBLE, pressure DOUBLE
) WITH (
  'connector' = 'filesystem', 'path' = '${output_path}/stablecoin_pressure',
  'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE alerts_sink (
  base STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), alert_id STRING,
  level STRING, previous_level STRING, side STRING, risk DOUBLE, long_risk DOUBLE,
  short_risk DOUBLE, funding_pts DOUBLE, oi_buildup_pts DOUBLE, imbalance_pts DOUBLE,
  liquidation_pts DOUBLE, pressure DOUBLE, confidence DOUBLE, components STRING
) WITH (
  'connector' = 'filesystem', 'path' = '${output_path}/alerts',
  'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE liquidations_sink (
  event_time TIMESTAMP(3), dedup_key STRING, venue STRING, symbol STRING, base STRING,
  side STRING, price DOUBLE, qty DOUBLE, notional_usd DOUBLE, sampled BOOLEAN
) WITH (
  'connector' = 'blackhole'
);

CREATE TEMPORARY TABLE dead_letters_sink (
  topic STRING, kafka_partition INT, kafka_offset BIGINT, event_time TIMESTAMP(3),
  problem STRING, payload STRING
) WITH (
  'connector' = 'filesystem', 'path' = '${output_path}/dead_letters',
  'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TEMPORARY TABLE alerts_topic (
  alert_id STRING, base STRING, level STRING, previous_level STRING, side STRING,
  risk DOUBLE, long_risk DOUBLE, short_risk DOUBLE, funding_pts DOUBLE,
  oi_buildup_pts DOUBLE, imbalance_pts DOUBLE, liquidation_pts DOUBLE, pressure DOUBLE,
  confidence DOUBLE, components STRING, window_start STRING, window_end STRING
) WITH (
  'connector' = 'blackhole'
);

CREATE TEMPORARY TABLE source_health_sink (
  source STRING, reported_at TIMESTAMP(3), last_event_at TIMESTAMP(3), messages BIGINT,
  errors BIGINT, dead_letters BIGINT, state STRING
) WITH (
  'connector' = 'blackhole'
);

CREATE TEMPORARY TABLE topic_events_sink (
  topic STRING, window_start TIMESTAMP(3), events BIGINT, dead_letters BIGINT
) WITH (
  'connector' = 'blackhole'
);

CREATE TEMPORARY TABLE dead_letter_topic (
  topic STRING, kafka_partition INT, kafka_offset BIGINT, problem STRING, payload STRING
) WITH (
  'connector' = 'blackhole'
);

-- What the calibration and the per-component figures need beyond the job's tables: every
-- input of the scoring UDF on the all-venue rows, and the inputs of the labels.
CREATE TEMPORARY TABLE score_inputs_sink (
  base STRING, window_start TIMESTAMP(3), oi_usd DOUBLE, liq_long_usd DOUBLE,
  liq_short_usd DOUBLE, funding_8h DOUBLE, oi_change_pct DOUBLE, price_change_pct DOUBLE,
  long_share DOUBLE, top_long_share DOUBLE, pressure_value DOUBLE,
  ${score_input_columns}
) WITH (
  'connector' = 'filesystem', 'path' = '${output_path}/score_inputs',
  'format' = 'json', 'json.timestamp-format.standard' = 'ISO-8601'
);

-- Recording lines that are no message of a data topic, with the reason.
CREATE TEMPORARY TABLE rejected_sink (file_path STRING, reason STRING, line STRING) WITH (
  'connector' = 'filesystem', 'path' = '${output_path}/rejected', 'format' = 'json'
);
