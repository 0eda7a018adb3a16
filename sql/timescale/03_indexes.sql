-- Indexes for the dashboard queries, on both branches. The primary keys already serve
-- one asset's series (base, venue, window_start); the overview reads every asset's
-- all-venue row over a time range, which wants venue first and then time.
CREATE INDEX IF NOT EXISTS features_1m_venue_window_idx ON features_1m (venue, window_start DESC);
CREATE INDEX IF NOT EXISTS risk_scores_venue_window_idx ON risk_scores (venue, window_start DESC);
-- Latest event per source and event counts per topic come from the primary keys; the
-- dead-letter count over a time range needs the event time.
CREATE INDEX IF NOT EXISTS dead_letters_event_time_idx ON dead_letters (event_time DESC);
