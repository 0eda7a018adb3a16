-- Every long/short report as received, with its population ('accounts': share of accounts
-- net long; 'top_positions': of the largest traders' positions), so the dashboards can show
-- each venue and population apart. The feature views average every report of a venue into
-- one long_share; a report without a population is kept under 'unspecified'. Not windowed:
-- reports come every few minutes per symbol, and the key (venue, symbol, population, time)
-- makes a replay rewrite, not add.
CREATE TEMPORARY VIEW long_short_reports AS
SELECT event_time, venue, symbol, base,
  COALESCE(population, 'unspecified') AS population,
  long_share
FROM long_short_ratio_checked
WHERE problem IS NULL;
