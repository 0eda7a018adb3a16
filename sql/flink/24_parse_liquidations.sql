-- liquidations: side = 'long' means a long position was force-closed.
-- dedup_key lets the same liquidation replayed twice count once.
CREATE TEMPORARY VIEW liquidations_checked AS
SELECT *,
  COALESCE(
    venue || ':' || liq_id,
    venue || ':' || symbol || ':' || CAST(ts AS STRING) || ':' || side || ':' || CAST(notional_usd AS STRING)
  ) AS dedup_key,
  COALESCE(envelope_problem, CASE
    WHEN side IS NULL OR side NOT IN ('long', 'short') THEN 'side: must be long or short'
    WHEN notional_usd IS NULL THEN 'notional_usd: missing or not a number'
    WHEN notional_usd < 0 THEN 'notional_usd: negative'
  END) AS problem
FROM (
  SELECT *,
    LOWER(j.side) AS side,
    j.notional_usd AS notional_usd,
    j.price AS price,
    j.qty AS qty,
    j.id AS liq_id
  FROM liquidations_envelope
);
