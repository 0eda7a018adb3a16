-- Sinks of the trader views (sql/timescale/08_trader_views.sql has the same keys, so every
-- write is an upsert): the liquidation-level map and the long/short reports.
CREATE TEMPORARY TABLE liquidation_levels_sink (
  base STRING, window_start TIMESTAMP(3), side STRING, bucket INT, window_end TIMESTAMP(3),
  price_low DOUBLE, price_high DOUBLE, notional_usd DOUBLE,
  PRIMARY KEY (base, window_start, side, bucket) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'liquidation_levels');

CREATE TEMPORARY TABLE long_short_reports_sink (
  base STRING, venue STRING, population STRING, symbol STRING, reported_at TIMESTAMP(3),
  long_share DOUBLE,
  PRIMARY KEY (base, venue, population, symbol, reported_at) NOT ENFORCED
) WITH (${jdbc}, 'table-name' = 'long_short_ratios');
