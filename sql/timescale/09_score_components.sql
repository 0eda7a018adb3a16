-- Scores judged against each asset's own history (docs/scoring.md): the long/short ratio
-- populations kept apart, and the components added to the score. 09, not the next free
-- number, because 07 and 08 are taken by work in flight on other branches.
-- long_share stays the accounts population; top_long_share is the top traders' positions.
ALTER TABLE features_1m ADD COLUMN IF NOT EXISTS top_long_share double precision;
-- Each component column holds its signed contribution to the side's combined score
-- (NULL = not judged: input missing or its history still warming up).
ALTER TABLE risk_scores ADD COLUMN IF NOT EXISTS liquidation_recent_pts double precision;
ALTER TABLE risk_scores ADD COLUMN IF NOT EXISTS price_move_pts double precision;
ALTER TABLE risk_scores ADD COLUMN IF NOT EXISTS top_imbalance_pts double precision;
ALTER TABLE risk_scores ADD COLUMN IF NOT EXISTS pressure_pts double precision;
