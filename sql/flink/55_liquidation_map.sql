-- The liquidation-level map per asset and minute (docs/liquidation-map.md). The pandas
-- UDAF LIQUIDATION_LEVELS (flink_jobs/map_udfs.py around flink_jobs/liquidation_map.py)
-- replays the asset's minute rows of the last window.horizon_minutes on every row, so the
-- state is bounded by the horizon and a replay or a restart writes the same map. It returns
-- the largest price buckets per side as 'side:bucket:price_low:price_high:notional;...'.
CREATE TEMPORARY VIEW asset_level_maps AS
SELECT window_start, window_end, base,
  LIQUIDATION_LEVELS(base, window_start, venues) OVER (
    PARTITION BY base ORDER BY window_time
    ROWS BETWEEN ${map_preceding} PRECEDING AND CURRENT ROW) AS levels
FROM map_asset_minutes;

-- One row per asset, minute, side and price bucket.
CREATE TEMPORARY VIEW liquidation_levels AS
SELECT base, window_start, window_end,
  SPLIT_INDEX(item, ':', 0) AS side,
  CAST(SPLIT_INDEX(item, ':', 1) AS INT) AS bucket,
  CAST(SPLIT_INDEX(item, ':', 2) AS DOUBLE) AS price_low,
  CAST(SPLIT_INDEX(item, ':', 3) AS DOUBLE) AS price_high,
  CAST(SPLIT_INDEX(item, ':', 4) AS DOUBLE) AS notional_usd
FROM asset_level_maps CROSS JOIN UNNEST(SPLIT(levels, ';')) AS t (item)
WHERE item <> '';
