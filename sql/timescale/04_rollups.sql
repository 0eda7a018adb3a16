-- Long-range rollups of the one-minute series for the dashboards (names and columns fixed
-- in CONTRACTS.md): a 30-day panel reads 8640 five-minute or 720 hourly points per asset
-- instead of 43200 minutes.
-- With TimescaleDB they are continuous aggregates, real-time (materialized_only = false:
-- buckets newer than the last refresh are computed from the raw rows at query time) and
-- refreshed by the policies below. Without it they are ordinary views with the same names
-- and columns, computed from the raw rows on every query; date_bin with time_bucket's
-- default origin (Monday 2000-01-03) gives the same buckets.
-- The hourly rollups aggregate the raw rows, not the five-minute ones, so averages are
-- exact whatever the number of rows per bucket.
-- "last" values are the newest non-NULL value of the bucket (a minute without a price
-- does not blank the bucket).
\if :timescale

CREATE MATERIALIZED VIEW IF NOT EXISTS risk_scores_5m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT base, venue, time_bucket(INTERVAL '5 minutes', window_start) AS bucket,
       max(risk) AS risk_max, avg(risk) AS risk_avg,
       max(long_risk) AS long_risk_max, max(short_risk) AS short_risk_max,
       avg(pressure) AS pressure_avg, min(confidence) AS confidence_min
FROM risk_scores
GROUP BY base, venue, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS risk_scores_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT base, venue, time_bucket(INTERVAL '1 hour', window_start) AS bucket,
       max(risk) AS risk_max, avg(risk) AS risk_avg,
       max(long_risk) AS long_risk_max, max(short_risk) AS short_risk_max,
       avg(pressure) AS pressure_avg, min(confidence) AS confidence_min
FROM risk_scores
GROUP BY base, venue, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS features_5m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT base, venue, time_bucket(INTERVAL '5 minutes', window_start) AS bucket,
       last(price, window_start) FILTER (WHERE price IS NOT NULL) AS price_last,
       avg(funding_8h) AS funding_8h_avg,
       last(oi_usd, window_start) FILTER (WHERE oi_usd IS NOT NULL) AS oi_usd_last,
       avg(long_share) AS long_share_avg,
       sum(liq_long_usd) AS liq_long_usd_sum, sum(liq_short_usd) AS liq_short_usd_sum,
       sum(events) AS events_sum
FROM features_1m
GROUP BY base, venue, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS features_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT base, venue, time_bucket(INTERVAL '1 hour', window_start) AS bucket,
       last(price, window_start) FILTER (WHERE price IS NOT NULL) AS price_last,
       avg(funding_8h) AS funding_8h_avg,
       last(oi_usd, window_start) FILTER (WHERE oi_usd IS NOT NULL) AS oi_usd_last,
       avg(long_share) AS long_share_avg,
       sum(liq_long_usd) AS liq_long_usd_sum, sum(liq_short_usd) AS liq_short_usd_sum,
       sum(events) AS events_sum
FROM features_1m
GROUP BY base, venue, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS stablecoin_pressure_5m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '5 minutes', window_start) AS bucket,
       sum(inflow_usd) AS inflow_usd_sum, sum(outflow_usd) AS outflow_usd_sum,
       avg(pressure) AS pressure_avg
FROM stablecoin_pressure
GROUP BY bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS stablecoin_pressure_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', window_start) AS bucket,
       sum(inflow_usd) AS inflow_usd_sum, sum(outflow_usd) AS outflow_usd_sum,
       avg(pressure) AS pressure_avg
FROM stablecoin_pressure
GROUP BY bucket
WITH NO DATA;

-- Refresh: the five-minute rollups every five minutes over the last day, the hourly ones
-- every hour over the last three days, so upserts of late or replayed windows within that
-- range reach the rollups; the newest, not yet materialized buckets come from the raw
-- rows (real-time aggregation). Raw retention must stay longer than three days
-- (every_run/10_policies.sql checks it), or a refresh would empty dropped ranges.
SELECT add_continuous_aggregate_policy(v, start_offset => INTERVAL '1 day',
         end_offset => INTERVAL '5 minutes', schedule_interval => INTERVAL '5 minutes',
         if_not_exists => TRUE)
FROM unnest(ARRAY['risk_scores_5m', 'features_5m', 'stablecoin_pressure_5m']::regclass[]) AS v;
SELECT add_continuous_aggregate_policy(v, start_offset => INTERVAL '3 days',
         end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour',
         if_not_exists => TRUE)
FROM unnest(ARRAY['risk_scores_1h', 'features_1h', 'stablecoin_pressure_1h']::regclass[]) AS v;

\else

CREATE OR REPLACE VIEW risk_scores_5m AS
SELECT base, venue,
       date_bin(INTERVAL '5 minutes', window_start, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       max(risk) AS risk_max, avg(risk) AS risk_avg,
       max(long_risk) AS long_risk_max, max(short_risk) AS short_risk_max,
       avg(pressure) AS pressure_avg, min(confidence) AS confidence_min
FROM risk_scores
GROUP BY base, venue, bucket;

CREATE OR REPLACE VIEW risk_scores_1h AS
SELECT base, venue,
       date_bin(INTERVAL '1 hour', window_start, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       max(risk) AS risk_max, avg(risk) AS risk_avg,
       max(long_risk) AS long_risk_max, max(short_risk) AS short_risk_max,
       avg(pressure) AS pressure_avg, min(confidence) AS confidence_min
FROM risk_scores
GROUP BY base, venue, bucket;

CREATE OR REPLACE VIEW features_5m AS
SELECT base, venue,
       date_bin(INTERVAL '5 minutes', window_start, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       (array_agg(price ORDER BY window_start DESC) FILTER (WHERE price IS NOT NULL))[1]
         AS price_last,
       avg(funding_8h) AS funding_8h_avg,
       (array_agg(oi_usd ORDER BY window_start DESC) FILTER (WHERE oi_usd IS NOT NULL))[1]
         AS oi_usd_last,
       avg(long_share) AS long_share_avg,
       sum(liq_long_usd) AS liq_long_usd_sum, sum(liq_short_usd) AS liq_short_usd_sum,
       sum(events) AS events_sum
FROM features_1m
GROUP BY base, venue, bucket;

CREATE OR REPLACE VIEW features_1h AS
SELECT base, venue,
       date_bin(INTERVAL '1 hour', window_start, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       (array_agg(price ORDER BY window_start DESC) FILTER (WHERE price IS NOT NULL))[1]
         AS price_last,
       avg(funding_8h) AS funding_8h_avg,
       (array_agg(oi_usd ORDER BY window_start DESC) FILTER (WHERE oi_usd IS NOT NULL))[1]
         AS oi_usd_last,
       avg(long_share) AS long_share_avg,
       sum(liq_long_usd) AS liq_long_usd_sum, sum(liq_short_usd) AS liq_short_usd_sum,
       sum(events) AS events_sum
FROM features_1m
GROUP BY base, venue, bucket;

CREATE OR REPLACE VIEW stablecoin_pressure_5m AS
SELECT date_bin(INTERVAL '5 minutes', window_start, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       sum(inflow_usd) AS inflow_usd_sum, sum(outflow_usd) AS outflow_usd_sum,
       avg(pressure) AS pressure_avg
FROM stablecoin_pressure
GROUP BY bucket;

CREATE OR REPLACE VIEW stablecoin_pressure_1h AS
SELECT date_bin(INTERVAL '1 hour', window_start, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       sum(inflow_usd) AS inflow_usd_sum, sum(outflow_usd) AS outflow_usd_sum,
       avg(pressure) AS pressure_avg
FROM stablecoin_pressure
GROUP BY bucket;

\endif
