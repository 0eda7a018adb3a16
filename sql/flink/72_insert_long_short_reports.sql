-- Every long/short report (56) into its table (61), in the job's one statement set.
INSERT INTO long_short_reports_sink
SELECT base, venue, population, symbol, CAST(event_time AS TIMESTAMP(3)), long_share
FROM long_short_reports;
