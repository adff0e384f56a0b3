-- The baseline schema. Later changes are new numbered files, the same
-- numbers in both dialects (a test compares the two schemas).

-- Process-wide settings that must survive restarts (the generated IP hash
-- pepper outside production, for one).
CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    created_at integer NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
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
    seq            integer PRIMARY KEY AUTOINCREMENT, -- commit order: the sessionizer's cursor
    id             text NOT NULL,
    visitor_id     text NOT NULL,
    dedupe_key     blob NOT NULL,
    event_type     text NOT NULL,
    path           text NOT NULL,
    occurred_at    integer NOT NULL,
    received_at    integer NOT NULL,
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
    is_conversion  integer NOT NULL DEFAULT 0,
    engaged_ms     integer,
    scroll_pct     integer,
    fcp_ms         integer,
    lcp_ms         integer,
    inp_ms         integer,
    ttfb_ms        integer,
    cls            real,
    props          text,
    ip_ua_hash     text
);
CREATE UNIQUE INDEX events_dedupe_key_idx ON events (dedupe_key);
CREATE INDEX events_visitor_idx ON events (visitor_id, occurred_at);
CREATE INDEX events_occurred_at_idx ON events (occurred_at);

-- Sessions derived from the event log by DeriveSessions (see session.go),
-- materialised by the sessionizer. A session's id is its entrance event's
-- id. Never written at ingest.
CREATE TABLE sessions (
    id             text PRIMARY KEY,
    visitor_id     text NOT NULL,
    property_id    text NOT NULL,
    started_at     integer NOT NULL,
    ended_at       integer NOT NULL,
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
    converted      integer NOT NULL DEFAULT 0,
    bounce         integer NOT NULL DEFAULT 0,
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
    position   integer NOT NULL DEFAULT 0,
    updated_at integer
);
INSERT INTO sessionizer (id) VALUES (1);

-- Counters, not one row per bad request: (hour, property, endpoint, reason).
CREATE TABLE ingest_rejections (
    hour        integer NOT NULL,
    property_id text NOT NULL,
    endpoint    text NOT NULL,
    reason      text NOT NULL,
    count       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, property_id, endpoint, reason)
);

-- One random salt per UTC day for cookieless visitor ids; deleted after 48 h.
CREATE TABLE visitor_salts (
    day        text PRIMARY KEY,
    salt       blob NOT NULL,
    created_at integer NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
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
    consent_at        integer NOT NULL,
    source_channel    text,
    locale            text,
    first_captured_at integer NOT NULL,
    last_captured_at  integer NOT NULL,
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
    created_at        integer NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)),
    updated_at        integer NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);
CREATE INDEX leads_first_captured_idx ON leads (first_captured_at DESC, id DESC);
CREATE INDEX leads_consent_idx ON leads (consent_status, consent_at);

CREATE TABLE lead_identities (
    lead_id     text NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    visitor_id  text NOT NULL,
    link_source text NOT NULL CHECK (link_source IN ('form_submit','same_ip_ua_window','manual_merge')),
    confidence  real NOT NULL,
    linked_at   integer NOT NULL,
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
    payload           text,
    validation_status text NOT NULL DEFAULT 'accepted',
    submitted_at      integer NOT NULL
);
CREATE INDEX form_submissions_lead_idx ON form_submissions (lead_id);
CREATE INDEX form_submissions_submitted_idx ON form_submissions (submitted_at);

-- Each distinct wording once, referenced by the SHA-256 of its text.
CREATE TABLE consent_wordings (
    hash       text PRIMARY KEY,
    text       text NOT NULL,
    purpose    text,
    version    text,
    created_at integer NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
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
    occurred_at     integer NOT NULL
);
CREATE INDEX consent_events_lead_idx ON consent_events (lead_id, occurred_at);
CREATE INDEX consent_events_subject_idx ON consent_events (subject_hash);

CREATE TABLE suppressions (
    email_hash text PRIMARY KEY,
    reason     text NOT NULL,
    created_at integer NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);

-- Daily rollups per report day and property ('default' = all properties),
-- and the audit of job runs.

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
