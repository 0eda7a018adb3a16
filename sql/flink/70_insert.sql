-- The job: every INSERT below runs in one statement set, so it is one Flink job.
INSERT INTO features_1m_sink
SELECT base, venue, window_start, window_end, price, funding_8h, oi_usd,
  100 * (oi_usd / oi_ref - 1), 100 * (price / price_ref - 1),
  long_share, liq_long_usd, liq_short_usd, liq_count, events
FROM venue_lookback;

INSERT INTO features_1m_sink
SELECT base, 'all', window_start, window_end, price, funding_8h, oi_usd, oi_change_pct,
  price_change_pct, long_share, liq_long_usd, liq_short_usd, liq_count, events
FROM asset_features;

INSERT INTO risk_scores_sink
SELECT base, window_start, window_end, risk, funding_pts, oi_buildup_pts, imbalance_pts,
  liquidation_pts, confidence, components, pressure, level
FROM risk_scores;

INSERT INTO stablecoin_pressure_sink
SELECT window_start, window_end, inflow_usd, outflow_usd, internal_usd, transfers,
  baseline_usd, pressure
FROM stablecoin_pressure;

INSERT INTO alerts_sink SELECT * FROM alerts;

INSERT INTO alerts_topic SELECT * FROM alerts;

INSERT INTO liquidations_sink
SELECT CAST(event_time AS TIMESTAMP(3)), dedup_key, venue, symbol, base, side, price, qty, notional_usd
FROM liquidations_checked WHERE problem IS NULL;

INSERT INTO dead_letters_sink
SELECT topic, kafka_partition, kafka_offset, CAST(event_time AS TIMESTAMP(3)), problem, payload
FROM dead_letters;

INSERT INTO dead_letter_topic
SELECT topic, kafka_partition, kafka_offset, problem, payload FROM dead_letters;
