-- long_short_ratio: share of accounts (or top positions) that are net long.
CREATE TEMPORARY VIEW long_short_ratio_checked AS
SELECT *,
  COALESCE(envelope_problem, CASE
    WHEN long_share IS NULL THEN 'long_share: missing or not a number'
    WHEN long_share < 0 OR long_share > 1 THEN 'long_share: outside 0..1'
  END) AS problem
FROM (
  SELECT *, j.long_share AS long_share
  FROM long_short_ratio_envelope
);
