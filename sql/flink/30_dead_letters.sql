-- Every record some check refused, from every topic, with its raw text and the reason.
-- Not windowed: a malformed record with a stale timestamp must still be counted.
-- (topic, partition, offset) identifies the record, so a job restart re-writes, not adds.
CREATE TEMPORARY VIEW dead_letters AS
SELECT 'prices' AS topic, kafka_partition, kafka_offset, event_time, problem, payload
FROM prices_checked WHERE problem IS NOT NULL
UNION ALL
SELECT 'funding_rates', kafka_partition, kafka_offset, event_time, problem, payload
FROM funding_rates_checked WHERE problem IS NOT NULL
UNION ALL
SELECT 'open_interest', kafka_partition, kafka_offset, event_time, problem, payload
FROM open_interest_checked WHERE problem IS NOT NULL
UNION ALL
SELECT 'liquidations', kafka_partition, kafka_offset, event_time, problem, payload
FROM liquidations_checked WHERE problem IS NOT NULL
UNION ALL
SELECT 'long_short_ratio', kafka_partition, kafka_offset, event_time, problem, payload
FROM long_short_ratio_checked WHERE problem IS NOT NULL
UNION ALL
SELECT 'stablecoin_flows', kafka_partition, kafka_offset, event_time, problem, payload
FROM stablecoin_flows_checked WHERE problem IS NOT NULL
UNION ALL
SELECT 'ingest_health', kafka_partition, kafka_offset, event_time, problem, payload
FROM ingest_health_checked WHERE problem IS NOT NULL;
