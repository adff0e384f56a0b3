-- The daily retention job clears the visitor sketches of rollup days past
-- the raw window (docs/metrics.md, "Past the raw window, counts only").
-- These partial indexes hold only the rows that still have a sketch, so a
-- run finds the few days it clears without reading the years already
-- cleared. Their predicates are the purge's, word for word.
CREATE INDEX stats_rollups_sketched_idx ON stats_rollups (day) WHERE length(visitor_sketch) > 0;
CREATE INDEX daily_metric_rollups_sketched_idx ON daily_metric_rollups (day) WHERE visitor_sketch IS NOT NULL;
