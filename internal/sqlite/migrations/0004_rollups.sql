-- Daily rollups per report day and property ('default' = all properties),
-- the audit of job runs, and the first-capture property of leads.
ALTER TABLE leads ADD COLUMN property_id text;

CREATE TABLE daily_metric_rollups (
    property_id                  text NOT NULL,
    day                          text NOT NULL,
    unique_visitors              bigint NOT NULL DEFAULT 0,
    returning_visitors           bigint NOT NULL DEFAULT 0,
    total_page_views             bigint NOT NULL DEFAULT 0,
    total_entrances              bigint NOT NULL DEFAULT 0,
    total_exits                  bigint NOT NULL DEFAULT 0,
    total_conversions            bigint NOT NULL DEFAULT 0,
    form_starts                  bigint NOT NULL DEFAULT 0,
    form_submits                 bigint NOT NULL DEFAULT 0,
    new_leads                    bigint NOT NULL DEFAULT 0,
    time_to_first_capture_sum_ms bigint NOT NULL DEFAULT 0,
    time_to_first_capture_count  bigint NOT NULL DEFAULT 0,
    traffic_source_breakdown     text NOT NULL DEFAULT '{}',
    top_landing_paths            text NOT NULL DEFAULT '[]',
    visitor_sketch               blob,
    returning_sketch             blob,
    generated_at                 integer NOT NULL,
    PRIMARY KEY (property_id, day)
);
CREATE INDEX daily_metric_rollups_day_idx ON daily_metric_rollups (day);

CREATE TABLE daily_ingest_rollups (
    property_id     text NOT NULL,
    day             text NOT NULL,
    events_accepted bigint NOT NULL DEFAULT 0,
    events_rejected bigint NOT NULL DEFAULT 0,
    leads_accepted  bigint NOT NULL DEFAULT 0,
    leads_rejected  bigint NOT NULL DEFAULT 0,
    p95_ttfb_ms     integer,
    ttfb_histogram  blob,
    error_breakdown text NOT NULL DEFAULT '{}',
    generated_at    integer NOT NULL,
    PRIMARY KEY (property_id, day)
);
CREATE INDEX daily_ingest_rollups_day_idx ON daily_ingest_rollups (day);

-- One row per run; (job, slot) is unique so that of many processes, one
-- claims each scheduled run.
CREATE TABLE job_runs (
    id          text PRIMARY KEY,
    job         text NOT NULL,
    slot        text NOT NULL,
    status      text NOT NULL,
    dry_run     integer NOT NULL DEFAULT 0,
    details     text,
    error       text,
    started_at  integer NOT NULL,
    finished_at integer,
    UNIQUE (job, slot)
);
CREATE INDEX job_runs_started_idx ON job_runs (started_at DESC);
