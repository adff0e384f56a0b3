-- The stats engine's daily rollups (internal/stats, BuildRollups): one row
-- per property, day, field and value ('' and '' are the day's totals, and
-- mark the day as rolled up), counted in time_zone. Breakdowns, totals and
-- series over days older than the raw window read these rows; days of
-- another zone than the property's are never merged with them.
CREATE TABLE stats_rollups (
    property_id         text NOT NULL,
    day                 date NOT NULL,
    field               text NOT NULL,
    value               text NOT NULL,
    time_zone           text NOT NULL,
    visitors            bigint NOT NULL,
    converting_visitors bigint NOT NULL,
    visits              bigint NOT NULL,
    pageviews           bigint NOT NULL,
    events              bigint NOT NULL,
    conversions         bigint NOT NULL,
    bounces             bigint NOT NULL,
    duration_ms         bigint NOT NULL,
    visitor_sketch      bytea NOT NULL,
    converting_sketch   bytea NOT NULL,
    PRIMARY KEY (property_id, field, day, value)
);
CREATE INDEX stats_rollups_day_idx ON stats_rollups (day);

-- Web vitals (StatsValues) read the events that carry a measurement, a
-- few in ten, through this partial index; its predicate is written word for
-- word as internal/statsql's hasVitals, so both planners match it.
CREATE INDEX events_vitals_idx ON events (occurred_at, property_id)
    WHERE lcp_ms IS NOT NULL OR inp_ms IS NOT NULL OR cls IS NOT NULL OR fcp_ms IS NOT NULL OR ttfb_ms IS NOT NULL;
