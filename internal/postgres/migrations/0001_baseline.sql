-- The baseline schema. Later changes are new numbered files, the same
-- numbers in both dialects (a test compares the two schemas).

-- Process-wide settings that must survive restarts (the generated IP hash
-- pepper outside production, for one).
CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The event log: append-only, the source of truth. Sessions (below) and
-- rollups are derived from it and can be rebuilt from it at any time. A
-- batch of events is one INSERT; nothing here is read or locked to write
-- it. The unique dedupe key makes retries idempotent across processes.
-- visitor_id is a keyed hash of the client's anonId (or the cookieless
-- daily id), so no lookup is needed to name a visitor. Indexes: the dedupe
-- key, a visitor's events in time (sessions), time ranges (reports,
-- retention), and the sessionizer's cursor.
CREATE TABLE events (
    id             text NOT NULL,
    tx             xid8 NOT NULL DEFAULT pg_current_xact_id(), -- the sessionizer's cursor
    visitor_id     text NOT NULL,
    dedupe_key     bytea NOT NULL,
    event_type     text NOT NULL,
    path           text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL,
    property_id    text NOT NULL,
    referrer_host  text,
    traffic_source text NOT NULL CHECK (traffic_source IN ('direct','organic_search','paid_search','social','email','referral','campaign','internal','unknown')),
    utm_source     text,
    utm_medium     text,
    utm_campaign   text,
    utm_term       text,
    utm_content    text,
    device_type    text NOT NULL CHECK (device_type IN ('desktop','mobile','tablet','bot','unknown')),
    browser        text,
    os             text,
    country_code   text,
    is_conversion  boolean NOT NULL DEFAULT false,
    engaged_ms     integer,
    scroll_pct     integer,
    fcp_ms         integer,
    lcp_ms         integer,
    inp_ms         integer,
    ttfb_ms        integer,
    cls            double precision,
    props          jsonb,
    ip_ua_hash     text
);
CREATE UNIQUE INDEX events_dedupe_key_idx ON events (dedupe_key);
CREATE INDEX events_visitor_idx ON events (visitor_id, occurred_at);
CREATE INDEX events_occurred_at_idx ON events (occurred_at);
CREATE INDEX events_tx_idx ON events (tx);

-- Sessions derived from the event log by DeriveSessions (see session.go),
-- materialised by the sessionizer. A session's id is its entrance event's
-- id. Never written at ingest.
CREATE TABLE sessions (
    id             text PRIMARY KEY,
    visitor_id     text NOT NULL,
    property_id    text NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz NOT NULL,
    landing_path   text NOT NULL,
    exit_path      text,
    referrer_host  text,
    traffic_source text NOT NULL,
    utm_source     text,
    utm_medium     text,
    utm_campaign   text,
    utm_term       text,
    utm_content    text,
    device_type    text,
    browser        text,
    os             text,
    country_code   text,
    page_views     integer NOT NULL,
    event_count    integer NOT NULL,
    engaged_ms     bigint NOT NULL DEFAULT 0,
    converted      boolean NOT NULL DEFAULT false,
    bounce         boolean NOT NULL DEFAULT false,
    ip_ua_hash     text
);
CREATE INDEX sessions_visitor_idx ON sessions (visitor_id, started_at);
CREATE INDEX sessions_started_at_idx ON sessions (started_at);
-- Heuristic lead links: other visitors seen from the same address and agent.
CREATE INDEX sessions_ip_ua_idx ON sessions (ip_ua_hash, ended_at);

-- The sessionizer's cursor: events appended after it are not yet in
-- sessions. One row; a run holds its lock, so runs never overlap.
CREATE TABLE sessionizer (
    id         integer PRIMARY KEY CHECK (id = 1),
    position   xid8 NOT NULL DEFAULT '0',
    updated_at timestamptz
);
INSERT INTO sessionizer (id) VALUES (1);

-- Counters, not one row per bad request: (hour, property, endpoint, reason).
CREATE TABLE ingest_rejections (
    hour        timestamptz NOT NULL,
    property_id text NOT NULL,
    endpoint    text NOT NULL,
    reason      text NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, property_id, endpoint, reason)
);

-- One random salt per UTC day for cookieless visitor ids; deleted after 48 h.
CREATE TABLE visitor_salts (
    day        date PRIMARY KEY,
    salt       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Leads, their links to visitor ids, form submissions, the append-only consent
-- ledger with the wording shown, and suppressions of erased addresses.
CREATE TABLE leads (
    id                text PRIMARY KEY,
    email_normalized  text NOT NULL UNIQUE,
    email_hash        text NOT NULL, -- HMAC of the address: the ledger's pseudonym
    property_id       text,          -- of the first capture
    name              text,
    consent_status    text NOT NULL CHECK (consent_status IN ('pending','express','implied','withdrawn')),
    consent_at        timestamptz NOT NULL,
    source_channel    text,
    locale            text,
    first_captured_at timestamptz NOT NULL,
    last_captured_at  timestamptz NOT NULL,
    ft_landing_path   text,
    ft_referrer_host  text,
    ft_traffic_source text,
    ft_utm_source     text,
    ft_utm_medium     text,
    ft_utm_campaign   text,
    ft_utm_term       text,
    ft_utm_content    text,
    lt_landing_path   text,
    lt_referrer_host  text,
    lt_traffic_source text,
    lt_utm_source     text,
    lt_utm_medium     text,
    lt_utm_campaign   text,
    lt_utm_term       text,
    lt_utm_content    text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_first_captured_idx ON leads (first_captured_at DESC, id DESC);
CREATE INDEX leads_consent_idx ON leads (consent_status, consent_at);

CREATE TABLE lead_identities (
    lead_id     text NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    visitor_id  text NOT NULL,
    link_source text NOT NULL CHECK (link_source IN ('form_submit','same_ip_ua_window','manual_merge')),
    confidence  double precision NOT NULL,
    linked_at   timestamptz NOT NULL,
    PRIMARY KEY (lead_id, visitor_id, link_source)
);
CREATE INDEX lead_identities_visitor_idx ON lead_identities (visitor_id);

CREATE TABLE form_submissions (
    id                text PRIMARY KEY,
    lead_id           text REFERENCES leads (id) ON DELETE SET NULL,
    visitor_id        text,
    property_id       text,
    form_name         text NOT NULL,
    path              text,
    payload           jsonb,
    validation_status text NOT NULL DEFAULT 'accepted',
    submitted_at      timestamptz NOT NULL
);
CREATE INDEX form_submissions_lead_idx ON form_submissions (lead_id);
CREATE INDEX form_submissions_submitted_idx ON form_submissions (submitted_at);

-- Each distinct wording once, referenced by the SHA-256 of its text.
CREATE TABLE consent_wordings (
    hash       text PRIMARY KEY,
    text       text NOT NULL,
    purpose    text,
    version    text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only. subject_hash (HMAC of the email) keeps rows attributable to
-- an erased address without holding it; lead_id is cleared on erasure.
CREATE TABLE consent_events (
    id              text PRIMARY KEY,
    lead_id         text REFERENCES leads (id) ON DELETE SET NULL,
    subject_hash    text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending','express','implied','withdrawn')),
    previous_status text,
    source          text NOT NULL CHECK (source IN ('form_submit','unsubscribe','admin','expiry')),
    wording_hash    text REFERENCES consent_wordings (hash),
    form_name       text,
    page_path       text,
    reason          text,
    ip_hash         text,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX consent_events_lead_idx ON consent_events (lead_id, occurred_at);
CREATE INDEX consent_events_subject_idx ON consent_events (subject_hash);

CREATE TABLE suppressions (
    email_hash text PRIMARY KEY,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Daily rollups per report day and property ('default' = all properties),
-- and the audit of job runs.

CREATE TABLE daily_metric_rollups (
    property_id                  text NOT NULL,
    day                          date NOT NULL,
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
    traffic_source_breakdown     jsonb NOT NULL DEFAULT '{}',
    top_landing_paths            jsonb NOT NULL DEFAULT '[]',
    visitor_sketch               bytea,
    returning_sketch             bytea,
    generated_at                 timestamptz NOT NULL,
    PRIMARY KEY (property_id, day)
);
CREATE INDEX daily_metric_rollups_day_idx ON daily_metric_rollups (day);

CREATE TABLE daily_ingest_rollups (
    property_id     text NOT NULL,
    day             date NOT NULL,
    events_accepted bigint NOT NULL DEFAULT 0,
    events_rejected bigint NOT NULL DEFAULT 0,
    leads_accepted  bigint NOT NULL DEFAULT 0,
    leads_rejected  bigint NOT NULL DEFAULT 0,
    p95_ttfb_ms     integer,
    ttfb_histogram  bytea,
    error_breakdown jsonb NOT NULL DEFAULT '{}',
    generated_at    timestamptz NOT NULL,
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
    dry_run     boolean NOT NULL DEFAULT false,
    details     jsonb,
    error       text,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    UNIQUE (job, slot)
);
CREATE INDEX job_runs_started_idx ON job_runs (started_at DESC);

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
