-- prices: last traded or index price per venue and symbol.
CREATE TEMPORARY VIEW prices_checked AS
SELECT *,
  COALESCE(envelope_problem, CASE
    WHEN price IS NULL THEN 'price: missing or not a number'
    WHEN price <= 0 THEN 'price: not positive'
  END) AS problem
FROM (
  SELECT *, j.price AS price
  FROM prices_envelope
);
