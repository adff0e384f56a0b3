-- The default channel grouping of each session (marketing.Channel), derived
-- by the sessionizer with the rest of the session. Sessions derived before
-- this migration have none until they are derived again.
ALTER TABLE sessions ADD COLUMN channel text;
