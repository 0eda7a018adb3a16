-- Records that arrive after the job's clock has closed their minute. A one-minute window
-- drops such a record (as any event-time window does), so it is counted here instead, per
-- topic and the minute it belongs to, for the pipeline dashboard: a late record is never
-- lost without a trace. It should not happen: no partition is ever idle (10_source_topic),
-- so the watermark waits for every partition's backlog; a producer whose records trail its
-- own heartbeats by more than the watermark delay would show here.
-- Late = the record's window has ended at or before its topic's watermark when the record
-- is read. The windows run on the slowest input's watermark, never ahead of one topic's,
-- so every record a window drops is counted (and, rarely, one a window still took while
-- another input lagged). Broken records are dead letters (not windowed): not counted here.
CREATE TEMPORARY VIEW late_inputs AS
SELECT topic, CAST(event_time AS TIMESTAMP(3)) AS t, CAST(wm AS TIMESTAMP(3)) AS wm
FROM (
  SELECT 'prices' AS topic, event_time, CURRENT_WATERMARK(event_time) AS wm
  FROM prices_checked WHERE problem IS NULL
  UNION ALL
  SELECT 'funding_rates', event_time, CURRENT_WATERMARK(event_time)
  FROM funding_rates_checked WHERE problem IS NULL
  UNION ALL
  SELECT 'open_interest', event_time, CURRENT_WATERMARK(event_time)
  FROM open_interest_checked WHERE problem IS NULL
  UNION ALL
  SELECT 'liquidations', event_time, CURRENT_WATERMARK(event_time)
  FROM liquidations_checked WHERE problem IS NULL
  UNION ALL
  SELECT 'long_short_ratio', event_time, CURRENT_WATERMARK(event_time)
  FROM long_short_ratio_checked WHERE problem IS NULL
  UNION ALL
  SELECT 'stablecoin_flows', event_time, CURRENT_WATERMARK(event_time)
  FROM stablecoin_flows_checked WHERE problem IS NULL
);

-- Windows are aligned to the epoch: the record's window starts at whole multiples of the
-- window length in minutes since 1970.
CREATE TEMPORARY VIEW late_records_1m AS
SELECT /*+ STATE_TTL('late' = '1d') */ topic, window_start, COUNT(*) AS records
FROM (
  SELECT topic, wm,
    TIMESTAMPADD(MINUTE, CAST(m - MOD(m, ${window_minutes}) AS INT),
                 TIMESTAMP '1970-01-01 00:00:00') AS window_start
  FROM (SELECT topic, wm, TIMESTAMPDIFF(MINUTE, TIMESTAMP '1970-01-01 00:00:00', t) AS m
        FROM late_inputs)
) late
WHERE TIMESTAMPADD(MINUTE, ${window_minutes}, window_start) <= wm
GROUP BY topic, window_start;
