-- The default channel grouping of each session (marketing.Channel), derived
-- by the sessionizer with the rest of the session. Sessions derived before
-- this migration have none until they are derived again.
ALTER TABLE sessions ADD COLUMN channel text;

-- The stats engine reads one property's rows in a time window.
CREATE INDEX sessions_property_started_idx ON sessions (property_id, started_at);
CREATE INDEX events_property_occurred_idx ON events (property_id, occurred_at);

-- The report zone each day was rolled up in: days of another zone are
-- refused, never merged (NULL: rolled up before zones were recorded).
ALTER TABLE daily_metric_rollups ADD COLUMN report_timezone text;
