-- The default channel grouping of each session (marketing.Channel), derived
-- by the sessionizer with the rest of the session. Sessions derived before
-- this migration have none until they are derived again.
ALTER TABLE sessions ADD COLUMN channel text;

-- No (property_id, time) indexes here, unlike PostgreSQL: SQLite keeps no
-- statistics (no ANALYZE is run), so for the sessionizer's "this visitor on
-- this property since t" it could pick one over (visitor_id, occurred_at)
-- and read a fifth of the log per visitor. Stats queries use the time
-- indexes.

-- The report zone each day was rolled up in: days of another zone are
-- refused, never merged (NULL: rolled up before zones were recorded).
ALTER TABLE daily_metric_rollups ADD COLUMN report_timezone text;
