-- The backtest's own INSERTs, beside the job's (sql/flink/70_insert.sql): the scoring UDF's
-- inputs on the all-venue rows, and the rejected lines.
INSERT INTO score_inputs_sink
SELECT base, window_start, oi_usd, liq_long_in, liq_short_in, funding_8h, oi_change_pct,
  price_change_pct, long_share, top_long_share, pressure_value, ${score_input_names}
FROM score_history WHERE venue = 'all';

INSERT INTO rejected_sink SELECT file_path, reason, line FROM recording_rejected;
