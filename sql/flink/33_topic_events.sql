-- Records and dead letters per input topic and minute (of the record's Kafka timestamp),
-- for the pipeline-health dashboard. A record later than the watermark is not counted
-- here (it still reaches dead_letters if it is broken).
CREATE TEMPORARY VIEW topic_records AS
SELECT 'prices' AS topic, event_time, problem FROM prices_checked
UNION ALL SELECT 'funding_rates', event_time, problem FROM funding_rates_checked
UNION ALL SELECT 'open_interest', event_time, problem FROM open_interest_checked
UNION ALL SELECT 'liquidations', event_time, problem FROM liquidations_checked
UNION ALL SELECT 'long_short_ratio', event_time, problem FROM long_short_ratio_checked
UNION ALL SELECT 'stablecoin_flows', event_time, problem FROM stablecoin_flows_checked
UNION ALL SELECT venue, event_time, base FROM heartbeats;  -- watermark only

CREATE TEMPORARY VIEW topic_events_1m AS
SELECT topic, window_start, COUNT(*) AS events, COUNT(problem) AS dead_letters
FROM TABLE(TUMBLE(TABLE topic_records, DESCRIPTOR(event_time), ${window}))
GROUP BY window_start, window_end, topic;
