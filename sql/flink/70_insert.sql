-- The job: every INSERT below runs in one statement set, so it is one Flink job.
-- Venue rows show the minute's own values; the 'all' row is built from the venues'
-- carried-forward inputs (41, 42), the values its score uses.
INSERT INTO features_1m_sink
SELECT base, venue, window_start, window_end, price, funding_8h, oi_usd,
  100 * (oi_usd / oi_ref - 1), 100 * (price / price_ref - 1),
  long_share, liq_long_usd, liq_short_usd, liq_count, events, top_long_share
FROM venue_lookback;

INSERT INTO features_1m_sink
SELECT base, 'all', window_start, window_end, price, funding_8h, oi_usd, oi_change_pct,
  price_change_pct, long_share, liq_long_usd, liq_short_usd, liq_count, events, top_long_share
FROM asset_features;

-- Venue rows: the instantaneous level (entry thresholds, no hysteresis), for reading only.
INSERT INTO risk_scores_sink
SELECT base, venue, window_start, window_end, risk, side, long_risk, short_risk, funding_pts,
  oi_buildup_pts, imbalance_pts, liquidation_pts, confidence, components, data_age_s, pressure,
  ALERT_LEVEL(risk, confidence), liquidation_recent_pts, price_move_pts, top_imbalance_pts,
  pressure_pts
FROM risk_scores WHERE venue <> 'all';

-- All-venue rows: the asset's alert state (hysteresis, cooldown), the level alerts report.
INSERT INTO risk_scores_sink
SELECT base, venue, window_start, window_end, risk, side, long_risk, short_risk, funding_pts,
  oi_buildup_pts, imbalance_pts, liquidation_pts, confidence, components, data_age_s, pressure,
  CASE WHEN state_level <> 'NONE' THEN state_level END, liquidation_recent_pts, price_move_pts,
  top_imbalance_pts, pressure_pts
FROM asset_alert_state;

INSERT INTO stablecoin_pressure_sink
SELECT window_start, window_end, inflow_usd, outflow_usd, internal_usd, transfers,
  baseline_usd, pressure
FROM stablecoin_pressure;

INSERT INTO alerts_sink
SELECT base, window_start, window_end, alert_id, level, previous_level, side, risk, long_risk,
  short_risk, funding_pts, oi_buildup_pts, imbalance_pts, liquidation_pts, pressure,
  confidence, components
FROM alerts;

INSERT INTO alerts_topic
SELECT alert_id, base, level, previous_level, side, risk, long_risk, short_risk, funding_pts,
  oi_buildup_pts, imbalance_pts, liquidation_pts, pressure, confidence, components,
  DATE_FORMAT(window_start, 'yyyy-MM-dd HH:mm:ss'), DATE_FORMAT(window_end, 'yyyy-MM-dd HH:mm:ss')
FROM alerts;

-- sampled: the venue pushes at most one liquidation per symbol per interval (Binance,
-- OKX), so its sums are lower bounds; NULL when the producer did not say.
INSERT INTO liquidations_sink
SELECT CAST(event_time AS TIMESTAMP(3)), dedup_key, venue, symbol, base, side, price, qty,
  notional_usd, CASE LOWER(j.sampled) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END
FROM liquidations_checked WHERE problem IS NULL;

INSERT INTO dead_letters_sink
SELECT topic, kafka_partition, kafka_offset, CAST(event_time AS TIMESTAMP(3)), problem, payload
FROM dead_letters;

INSERT INTO dead_letter_topic
SELECT topic, kafka_partition, kafka_offset, problem, payload FROM dead_letters;

INSERT INTO source_health_sink
SELECT source, CAST(TO_TIMESTAMP_LTZ(reported_ms, 3) AS TIMESTAMP(3)),
  CAST(TO_TIMESTAMP_LTZ(last_event_ms, 3) AS TIMESTAMP(3)), messages, errors,
  dead_letter_count, state
FROM ingest_health_checked WHERE problem IS NULL;

INSERT INTO topic_events_sink
SELECT topic, window_start, events, dead_letters FROM topic_events_1m;
