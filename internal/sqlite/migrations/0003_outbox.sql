-- Lead delivery: webhook endpoints, the outbox every lead change writes to
-- in the change's own transaction, the log of delivery attempts, and
-- double opt-in confirmation requests. The same tables in both dialects.

-- Receivers of signed webhooks. property_id NULL: every site. secret is the
-- Standard Webhooks signing secret (whsec_…).
CREATE TABLE webhook_endpoints (
    id            text PRIMARY KEY,
    url           text NOT NULL,
    property_id   text,
    secret        text NOT NULL,
    include_email integer NOT NULL DEFAULT 0,
    created_at    integer NOT NULL
);

-- One row per message to one destination: a webhook to one endpoint, or
-- one email. payload holds no personal data; email holds the lead's
-- address only where it is needed (an endpoint that opted in, a
-- notification, a confirmation) and is cleared when the lead is erased.
-- A worker claims a due row by setting lease_owner and lease_until; a
-- claim whose lease has run out may be taken again.
CREATE TABLE outbox (
    id              text PRIMARY KEY,
    channel         text NOT NULL CHECK (channel IN ('webhook','email')),
    endpoint_id     text REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    lead_id         text,
    property_id     text,
    payload         text NOT NULL,
    email           text,
    status          text NOT NULL CHECK (status IN ('pending','delivered','dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at integer NOT NULL,
    lease_owner     text,
    lease_until     integer,
    last_error      text,
    created_at      integer NOT NULL,
    finished_at     integer
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
CREATE INDEX outbox_lead_idx ON outbox (lead_id);

-- One row per attempt: when, the answer's status code, latency. Never a
-- response body.
CREATE TABLE delivery_attempts (
    id           text PRIMARY KEY,
    message_id   text NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    attempted_at integer NOT NULL,
    status_code  integer,
    latency_ms   integer NOT NULL,
    error        text
);
CREATE INDEX delivery_attempts_message_idx ON delivery_attempts (message_id, attempt);

-- Double opt-in requests: what the confirmation will record. The address
-- is kept here until the request is confirmed or expires (then purged):
-- an erased address's lead is created again only on confirmation.
CREATE TABLE confirmations (
    id           text PRIMARY KEY,
    email        text NOT NULL,
    email_hash   text NOT NULL,
    property_id  text,
    wording_hash text REFERENCES consent_wordings (hash),
    form_name    text,
    page_path    text,
    requested_at integer NOT NULL,
    expires_at   integer NOT NULL,
    confirmed_at integer
);
CREATE INDEX confirmations_expires_idx ON confirmations (expires_at);

-- A confirmed double opt-in is its own source of consent in the ledger.
-- SQLite cannot alter a CHECK constraint: the table is rebuilt, rows and
-- indexes kept (nothing references it).
CREATE TABLE consent_events_new (
    id              text PRIMARY KEY,
    lead_id         text REFERENCES leads (id) ON DELETE SET NULL,
    subject_hash    text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending','express','implied','withdrawn')),
    previous_status text,
    source          text NOT NULL CHECK (source IN ('form_submit','unsubscribe','admin','expiry','double_opt_in')),
    wording_hash    text REFERENCES consent_wordings (hash),
    form_name       text,
    page_path       text,
    reason          text,
    ip_hash         text,
    occurred_at     integer NOT NULL
);
INSERT INTO consent_events_new SELECT id, lead_id, subject_hash, status, previous_status, source, wording_hash, form_name, page_path, reason, ip_hash, occurred_at FROM consent_events;
DROP TABLE consent_events;
ALTER TABLE consent_events_new RENAME TO consent_events;
CREATE INDEX consent_events_lead_idx ON consent_events (lead_id, occurred_at);
CREATE INDEX consent_events_subject_idx ON consent_events (subject_hash);
