-- Leads, their links to visitors, form submissions, the append-only consent
-- ledger with the wording shown, and suppressions of erased addresses.
CREATE TABLE leads (
    id                text PRIMARY KEY,
    email_normalized  text NOT NULL UNIQUE,
    email_hash        text NOT NULL, -- HMAC of the address: the ledger's pseudonym
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
    visitor_id  text NOT NULL REFERENCES visitors (id) ON DELETE CASCADE,
    link_source text NOT NULL CHECK (link_source IN ('form_submit','same_ip_ua_window','manual_merge')),
    confidence  double precision NOT NULL,
    linked_at   timestamptz NOT NULL,
    PRIMARY KEY (lead_id, visitor_id, link_source)
);
CREATE INDEX lead_identities_visitor_idx ON lead_identities (visitor_id);

-- Heuristic linking looks for other visitors seen from the same IP and user
-- agent hashes within minutes, most recent first (an office behind one NAT
-- shares an IP: the index must answer "the latest 20" without a sort).
CREATE INDEX visitors_ip_ua_idx ON visitors (last_ip_hash, last_ua_hash, last_seen_at);

CREATE TABLE form_submissions (
    id                text PRIMARY KEY,
    lead_id           text REFERENCES leads (id) ON DELETE SET NULL,
    visitor_id        text,
    session_id        text,
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
