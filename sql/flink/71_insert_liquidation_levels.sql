-- The liquidation-level map (55) into its table (61), in the job's one statement set.
INSERT INTO liquidation_levels_sink
SELECT base, window_start, side, bucket, window_end, price_low, price_high, notional_usd
FROM liquidation_levels;
