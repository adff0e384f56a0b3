-- The stats engine's daily rollups (internal/stats, BuildRollups): one row
-- per property, day, field and value ('' and '' are the day's totals, and
-- mark the day as rolled up), counted in time_zone. Breakdowns, totals and
-- series over days older than the raw window read these rows; days of
-- another zone than the property's are never merged with them.
CREATE TABLE stats_rollups (
    property_id         text NOT NULL,
    day                 text NOT NULL,
    field               text NOT NULL,
    value               text NOT NULL,
    time_zone           text NOT NULL,
    visitors            integer NOT NULL,
    converting_visitors integer NOT NULL,
    visits              integer NOT NULL,
    pageviews           integer NOT NULL,
    events              integer NOT NULL,
    conversions         integer NOT NULL,
    bounces             integer NOT NULL,
    duration_ms         integer NOT NULL,
    visitor_sketch      blob NOT NULL,
    converting_sketch   blob NOT NULL,
    PRIMARY KEY (property_id, field, day, value)
);
CREATE INDEX stats_rollups_day_idx ON stats_rollups (day);

-- Web vitals (StatsValues) read the events that carry a measurement, a
-- few in ten, through this partial index; its predicate is written word for
-- word as internal/statsql's hasVitals, so both planners match it.
CREATE INDEX events_vitals_idx ON events (occurred_at, property_id)
    WHERE lcp_ms IS NOT NULL OR inp_ms IS NOT NULL OR cls IS NOT NULL OR fcp_ms IS NOT NULL OR ttfb_ms IS NOT NULL;
