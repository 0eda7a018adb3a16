-- open_interest: outstanding contracts in USD, the quantity the risk score tracks.
CREATE TEMPORARY VIEW open_interest_checked AS
SELECT *,
  COALESCE(envelope_problem, CASE
    WHEN oi_usd IS NULL THEN 'oi_usd: missing or not a number'
    WHEN oi_usd < 0 THEN 'oi_usd: negative'
  END) AS problem
FROM (
  SELECT *, j.oi_usd AS oi_usd
  FROM open_interest_envelope
);
