-- Heartbeats from the ingest processes (topic ingest_heartbeat) keep event time moving
-- when every data partition is quiet: idleness alone cannot advance a watermark when all
-- inputs are idle, and the last minute would never close.
-- A heartbeat names no venue or asset, so this view passes no rows at run time, only the
-- heartbeat's watermark, into every windowed path it is unioned into. (The condition is
-- on parsed fields, not a constant, so the planner cannot prune the branch away.)
CREATE TEMPORARY VIEW heartbeats AS
SELECT event_time, venue, base
FROM (
  SELECT event_time, j.exchange AS venue, j.base AS base
  FROM (SELECT event_time, JSON_ROW(payload, 'exchange STRING, base STRING') AS j
        FROM ingest_heartbeat_raw)
)
WHERE venue IS NOT NULL AND base IS NOT NULL;
