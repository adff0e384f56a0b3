-- The default channel grouping of each session (marketing.Channel), derived
-- by the sessionizer with the rest of the session. Sessions derived before
-- this migration have none until they are derived again.
ALTER TABLE sessions ADD COLUMN channel text;

-- The stats engine reads one property's rows in a time window. The time
-- indexes gain the property as a second column, so a window's scan skips
-- other properties' rows inside the index. Never (property_id, time): the
-- sessionizer's batched per-visitor reads, planned generically, would take
-- such an index over (visitor_id, time) and read a property's whole log for
-- each visitor.
DROP INDEX events_occurred_at_idx;
CREATE INDEX events_occurred_at_idx ON events (occurred_at, property_id);
DROP INDEX sessions_started_at_idx;
CREATE INDEX sessions_started_at_idx ON sessions (started_at, property_id);

-- The optional view is created again with the zone each day was rolled up
-- in (daily_metric_rollups.time_zone, 0002), empty as before.
DROP MATERIALIZED VIEW IF EXISTS metrics_daily_summary_mv;
CREATE MATERIALIZED VIEW metrics_daily_summary_mv AS
SELECT m.property_id, m.day, m.unique_visitors, m.returning_visitors, m.total_page_views, m.total_entrances,
       m.total_exits, m.total_conversions, m.form_starts, m.form_submits, m.new_leads,
       m.time_to_first_capture_sum_ms, m.time_to_first_capture_count, m.traffic_source_breakdown,
       m.top_landing_paths, m.visitor_sketch, m.returning_sketch, m.generated_at,
       coalesce(i.events_accepted, 0) AS events_accepted, coalesce(i.events_rejected, 0) AS events_rejected,
       coalesce(i.leads_accepted, 0) AS leads_accepted, coalesce(i.leads_rejected, 0) AS leads_rejected,
       i.p95_ttfb_ms, i.ttfb_histogram, coalesce(i.error_breakdown, '{}') AS error_breakdown, m.time_zone
FROM daily_metric_rollups m
LEFT JOIN daily_ingest_rollups i ON i.property_id = m.property_id AND i.day = m.day
WITH NO DATA;
CREATE UNIQUE INDEX metrics_daily_summary_mv_property_day_key ON metrics_daily_summary_mv (property_id, day);
