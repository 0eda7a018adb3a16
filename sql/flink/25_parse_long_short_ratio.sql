-- long_short_ratio: share of one population that is net long. The populations answer
-- different questions and are kept apart all the way to the scores: 'accounts' (how many
-- traders lean long) and 'top_positions' (how the largest traders' positions lean); an
-- average of the two would describe neither (docs/scoring.md).
CREATE TEMPORARY VIEW long_short_ratio_checked AS
SELECT *,
  COALESCE(envelope_problem, CASE
    WHEN long_share IS NULL THEN 'long_share: missing or not a number'
    WHEN long_share < 0 OR long_share > 1 THEN 'long_share: outside 0..1'
    WHEN population IS NULL OR population NOT IN ('accounts', 'top_positions')
      THEN 'population: must be accounts or top_positions'
  END) AS problem
FROM (
  SELECT *, j.long_share AS long_share,
    LOWER(j.population) AS population
  FROM long_short_ratio_envelope
);
