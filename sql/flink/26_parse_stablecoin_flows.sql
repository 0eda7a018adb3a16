-- stablecoin_flows: USDT/USDC transfers to or from labeled exchange wallets.
-- tx_hash + log_index identifies one transfer, so a replayed transfer counts once.
CREATE TEMPORARY VIEW stablecoin_flows_checked AS
SELECT *,
  venue || ':' || tx_hash || ':' || CAST(log_index AS STRING) AS dedup_key,
  COALESCE(envelope_problem, CASE
    WHEN amount_usd IS NULL THEN 'amount_usd: missing or not a number'
    WHEN amount_usd < 0 THEN 'amount_usd: negative'
    WHEN direction IS NULL OR direction NOT IN ('inflow', 'outflow', 'internal')
      THEN 'direction: must be inflow, outflow or internal'
    WHEN tx_hash IS NULL OR log_index IS NULL THEN 'tx_hash/log_index: missing'
  END) AS problem
FROM (
  SELECT *,
    j.amount_usd AS amount_usd,
    LOWER(j.direction) AS direction,
    j.tx_hash AS tx_hash,
    j.log_index AS log_index
  FROM stablecoin_flows_envelope
);
