-- Features per venue, asset and minute. Averages, not first/last values: window output
-- order is not event order, and an average is unmoved by a sample delivered twice.
-- liq_* stay NULL in a minute without liquidations; the lookback decides if that is a 0.
-- *_ts: when each periodic input was last seen in the minute (epoch ms), and end_ms the
-- window end, so the scores can say how fresh their inputs are (data_age_s). Windows are
-- aligned to the epoch, so the end follows from any event time inside the window.
-- window_minute (the window start in minutes since the epoch) orders the OVER windows in
-- batch mode, where Flink cannot order a RANGE frame by a timestamp (flink_jobs/job.py).
CREATE TEMPORARY VIEW venue_features AS
SELECT
  window_start, window_end, window_time,
  TIMESTAMPDIFF(MINUTE, TIMESTAMP '1970-01-01 00:00:00', window_start) AS window_minute,
  venue, base,
  AVG(price)       AS price,
  AVG(funding_8h)  AS funding_8h,
  AVG(oi_usd)      AS oi_usd,
  AVG(long_share)  AS long_share,
  AVG(top_long_share) AS top_long_share,
  SUM(liq_long_usd)  AS liq_long_usd,
  SUM(liq_short_usd) AS liq_short_usd,
  COUNT(liq_long_usd) + COUNT(liq_short_usd) AS liq_count,
  COUNT(*) AS events,
  MAX(CASE WHEN price IS NOT NULL THEN ts END)      AS price_ts,
  MAX(CASE WHEN funding_8h IS NOT NULL THEN ts END) AS funding_ts,
  MAX(CASE WHEN oi_usd IS NOT NULL THEN ts END)     AS oi_ts,
  MAX(CASE WHEN long_share IS NOT NULL THEN ts END) AS long_share_ts,
  MAX(CASE WHEN top_long_share IS NOT NULL THEN ts END) AS top_long_share_ts,
  MAX(ts) - MOD(MAX(ts), ${window_ms}) + ${window_ms} AS end_ms
FROM TABLE(TUMBLE(TABLE market_events, DESCRIPTOR(event_time), ${window}))
GROUP BY window_start, window_end, window_time, venue, base;
