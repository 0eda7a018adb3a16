-- The trader views into their tables (61), in the job's one statement set.
INSERT INTO liquidation_levels_sink
SELECT base, window_start, side, bucket, window_end, price_low, price_high, notional_usd
FROM liquidation_levels;

INSERT INTO long_short_reports_sink
SELECT base, venue, population, symbol, CAST(event_time AS TIMESTAMP(3)), long_share
FROM long_short_reports;
