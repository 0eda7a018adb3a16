-- Late records per topic and minute (34_late_records.sql) into pipeline health. Its own
-- file so the backtest, which reads files in time order and has no watermark, leaves the
-- count out together with its view.
INSERT INTO late_records_sink
SELECT topic, window_start, records FROM late_records_1m;
