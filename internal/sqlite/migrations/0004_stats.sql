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

