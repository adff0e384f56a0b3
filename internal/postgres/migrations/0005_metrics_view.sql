-- The optional materialized view over the rollups (METRICS_USE_MATERIALIZED_VIEW).
-- Created empty; `marketing rollups refresh-view` (and the rollup job, when
-- the option is on) fills it, CONCURRENTLY thanks to the unique index. The
-- summary reads the tables whenever the view is missing or unpopulated.
CREATE MATERIALIZED VIEW metrics_daily_summary_mv AS
SELECT m.property_id, m.day, m.unique_visitors, m.returning_visitors, m.total_page_views, m.total_entrances,
       m.total_exits, m.total_conversions, m.form_starts, m.form_submits, m.new_leads,
       m.time_to_first_capture_sum_ms, m.time_to_first_capture_count, m.traffic_source_breakdown,
       m.top_landing_paths, m.visitor_sketch, m.returning_sketch, m.generated_at,
       coalesce(i.events_accepted, 0) AS events_accepted, coalesce(i.events_rejected, 0) AS events_rejected,
       coalesce(i.leads_accepted, 0) AS leads_accepted, coalesce(i.leads_rejected, 0) AS leads_rejected,
       i.p95_ttfb_ms, i.ttfb_histogram, coalesce(i.error_breakdown, '{}') AS error_breakdown
FROM daily_metric_rollups m
LEFT JOIN daily_ingest_rollups i ON i.property_id = m.property_id AND i.day = m.day
WITH NO DATA;
CREATE UNIQUE INDEX metrics_daily_summary_mv_property_day_key ON metrics_daily_summary_mv (property_id, day);
