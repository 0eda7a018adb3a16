-- Market-wide stablecoin flows per minute: each transfer once (tx_hash + log_index),
-- then summed by direction. Stablecoins moving onto exchanges are dry powder to sell.
CREATE TEMPORARY VIEW flows_ticking AS
SELECT event_time, dedup_key, direction, amount_usd
FROM stablecoin_flows_checked WHERE problem IS NULL
UNION ALL
SELECT event_time, venue, venue, CAST(NULL AS DOUBLE) FROM heartbeats;  -- watermark only

CREATE TEMPORARY VIEW flows_unique AS
SELECT window_time AS event_time, dedup_key,
  MAX(direction) AS direction, MAX(amount_usd) AS amount_usd
FROM TABLE(TUMBLE(TABLE flows_ticking, DESCRIPTOR(event_time), ${window}))
GROUP BY window_start, window_end, window_time, dedup_key;

CREATE TEMPORARY VIEW flow_features AS
SELECT window_start, window_end, window_time,
  TIMESTAMPDIFF(MINUTE, TIMESTAMP '1970-01-01 00:00:00', window_start) AS window_minute,
  COALESCE(SUM(CASE WHEN direction = 'inflow' THEN amount_usd END), 0)   AS inflow_usd,
  COALESCE(SUM(CASE WHEN direction = 'outflow' THEN amount_usd END), 0)  AS outflow_usd,
  COALESCE(SUM(CASE WHEN direction = 'internal' THEN amount_usd END), 0) AS internal_usd,
  COUNT(*) AS transfers
FROM TABLE(TUMBLE(TABLE flows_unique, DESCRIPTOR(event_time), ${window}))
GROUP BY window_start, window_end, window_time;

-- The typical size of a minute's exchange flows over the baseline, which scales pressure.
CREATE TEMPORARY VIEW flow_baseline AS
SELECT *,
  AVG(inflow_usd + outflow_usd) OVER (
    ORDER BY ${time_order}
    RANGE BETWEEN ${baseline_range} PRECEDING AND CURRENT ROW
  ) AS baseline_usd
FROM flow_features;
