-- funding_rates: the rate per funding interval, normalized here to an 8-hour equivalent
-- so venues that fund hourly (Hyperliquid) and 8-hourly (Bybit, OKX) compare directly.
CREATE TEMPORARY VIEW funding_rates_checked AS
SELECT *,
  funding_rate * 8 / interval_hours AS funding_8h,
  COALESCE(envelope_problem, CASE
    WHEN funding_rate IS NULL THEN 'funding_rate: missing or not a number'
    WHEN ABS(funding_rate) > 0.05 THEN 'funding_rate: beyond 5 % per interval'
    WHEN interval_hours IS NULL OR interval_hours <= 0 THEN 'interval_hours: missing or not positive'
  END) AS problem
FROM (
  SELECT *,
    j.funding_rate AS funding_rate,
    j.interval_hours AS interval_hours,
    j.mark_price AS mark_price
  FROM funding_rates_envelope
);
