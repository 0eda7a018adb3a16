-- Per venue over the open-interest lookback (one OVER window, so one pass):
-- * oi_ref / price_ref: the first open interest and price in the lookback, so changes are
--   per venue: a venue that drops out for a minute does not look like an OI crash;
-- * the last value of each periodic input and when it was seen, to carry it forward.
-- FIRST_VALUE and LAST_VALUE skip NULLs.
CREATE TEMPORARY VIEW venue_last AS
SELECT *,
  FIRST_VALUE(oi_usd) OVER w AS oi_ref,
  FIRST_VALUE(price)  OVER w AS price_ref,
  LAST_VALUE(price) OVER w AS price_last,           LAST_VALUE(price_ts) OVER w AS price_last_ts,
  LAST_VALUE(funding_8h) OVER w AS funding_last,    LAST_VALUE(funding_ts) OVER w AS funding_last_ts,
  LAST_VALUE(oi_usd) OVER w AS oi_last,             LAST_VALUE(oi_ts) OVER w AS oi_last_ts,
  LAST_VALUE(long_share) OVER w AS long_share_last, LAST_VALUE(long_share_ts) OVER w AS long_share_last_ts,
  LAST_VALUE(top_long_share) OVER w AS top_long_share_last,
  LAST_VALUE(top_long_share_ts) OVER w AS top_long_share_last_ts
FROM venue_features
WINDOW w AS (
  PARTITION BY venue, base ORDER BY ${time_order}
  RANGE BETWEEN ${oi_lookback_range} PRECEDING AND CURRENT ROW
);

-- Carried forward while younger than pipeline.max_input_age_s at the window end, never
-- beyond: an input older than that is missing (NULL), not a stale number.
CREATE TEMPORARY VIEW venue_carried AS
SELECT *,
  CASE WHEN end_ms - price_last_ts <= ${max_age_ms_price} THEN price_last END AS price_cf,
  CASE WHEN end_ms - funding_last_ts <= ${max_age_ms_funding} THEN funding_last END AS funding_cf,
  CASE WHEN end_ms - oi_last_ts <= ${max_age_ms_open_interest} THEN oi_last END AS oi_cf,
  CASE WHEN end_ms - long_share_last_ts <= ${max_age_ms_long_short} THEN long_share_last END
    AS long_share_cf,
  CASE WHEN end_ms - top_long_share_last_ts <= ${max_age_ms_long_short} THEN top_long_share_last END
    AS top_long_share_cf,
  CASE WHEN end_ms - price_last_ts <= ${max_age_ms_price} THEN end_ms - price_last_ts END AS price_age_ms,
  CASE WHEN end_ms - funding_last_ts <= ${max_age_ms_funding} THEN end_ms - funding_last_ts END
    AS funding_age_ms,
  CASE WHEN end_ms - oi_last_ts <= ${max_age_ms_open_interest} THEN end_ms - oi_last_ts END AS oi_age_ms,
  CASE WHEN end_ms - long_share_last_ts <= ${max_age_ms_long_short} THEN end_ms - long_share_last_ts END
    AS long_share_age_ms,
  CASE WHEN end_ms - top_long_share_last_ts <= ${max_age_ms_long_short}
    THEN end_ms - top_long_share_last_ts END AS top_long_share_age_ms
FROM venue_last;

-- The scoring inputs of a venue row. data_age_s: the stalest carried input, seconds.
CREATE TEMPORARY VIEW venue_lookback AS
SELECT *,
  CASE WHEN oi_ref > 0 THEN 100 * (oi_cf / oi_ref - 1) END AS oi_change_cf,
  100 * (price_cf / price_ref - 1) AS price_change_cf,
  CAST(NULLIF(GREATEST(COALESCE(price_age_ms, -1), COALESCE(funding_age_ms, -1),
                       COALESCE(oi_age_ms, -1), COALESCE(long_share_age_ms, -1),
                       COALESCE(top_long_share_age_ms, -1)), -1)
       AS DOUBLE) / 1000 AS data_age_s
FROM venue_carried;

-- A window without liquidations is a measured 0 only if this venue's liquidation feed
-- delivered anything within baseline_windows; otherwise (e.g. Hyperliquid, no public
-- feed) the input is missing.
CREATE TEMPORARY VIEW venue_inputs AS
SELECT *,
  CASE WHEN liq_seen > 0 THEN COALESCE(liq_long_usd, 0) END AS liq_long_in,
  CASE WHEN liq_seen > 0 THEN COALESCE(liq_short_usd, 0) END AS liq_short_in
FROM (
  SELECT *, SUM(liq_count) OVER b AS liq_seen
  FROM venue_lookback
  WINDOW b AS (
    PARTITION BY venue, base ORDER BY ${time_order}
    RANGE BETWEEN ${baseline_range} PRECEDING AND CURRENT ROW
  )
);
