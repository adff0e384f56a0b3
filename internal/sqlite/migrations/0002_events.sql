-- Visitors, sessions, raw events, ingest rejection counters and the daily
-- salts of cookieless visitors. Times are UTC milliseconds since the epoch.
CREATE TABLE visitors (
    id            text PRIMARY KEY,
    anon_id       text NOT NULL UNIQUE,
    first_seen_at integer NOT NULL,
    last_seen_at  integer NOT NULL,
    last_ip_hash  text,
    last_ua_hash  text,
    created_at    integer NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);

CREATE TABLE sessions (
    id             text PRIMARY KEY,
    visitor_id     text NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    property_id    text NOT NULL,
    started_at     integer NOT NULL,
    last_event_at  integer NOT NULL,
    landing_path   text NOT NULL,
    referrer_host  text,
    traffic_source text NOT NULL,
    utm_source     text,
    utm_medium     text,
    utm_campaign   text,
    utm_term       text,
    utm_content    text,
    exit_path      text,
    page_views     integer NOT NULL DEFAULT 0,
    event_count    integer NOT NULL DEFAULT 0
);
CREATE INDEX sessions_visitor_started_idx ON sessions (visitor_id, started_at DESC);
CREATE INDEX sessions_started_at_idx ON sessions (started_at);

-- Raw events are append-only and the hottest table: every index here is
-- paid on every event, so there are only two (duplicate lookups, and time
-- ranges for rollups and retention). visitor_id and session_id carry no
-- foreign keys for the same reason; retention deletes events before the
-- sessions and visitors they name.
CREATE TABLE events (
    id             text PRIMARY KEY,
    visitor_id     text NOT NULL,
    session_id     text NOT NULL,
    dedupe_key     blob NOT NULL,
    event_type     text NOT NULL,
    path           text NOT NULL,
    occurred_at    integer NOT NULL,
    received_at    integer NOT NULL,
    property_id    text NOT NULL,
    referrer_host  text,
    traffic_source text NOT NULL CHECK (traffic_source IN ('direct','organic_search','paid_search','social','email','referral','campaign','internal','unknown')),
    device_type    text NOT NULL CHECK (device_type IN ('desktop','mobile','tablet','bot','unknown')),
    browser        text,
    os             text,
    country_code   text,
    is_entrance    integer NOT NULL DEFAULT 0,
    is_conversion  integer NOT NULL DEFAULT 0,
    engaged_ms     integer,
    scroll_pct     integer,
    fcp_ms         integer,
    lcp_ms         integer,
    inp_ms         integer,
    ttfb_ms        integer,
    cls            real,
    props          text
);
CREATE INDEX events_dedupe_key_idx ON events (dedupe_key);
CREATE INDEX events_occurred_at_idx ON events (occurred_at);

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
