-- Sites (registered properties), API keys, the audit log, users with roles
-- per site and their login sessions (issue #17).
-- A site's id is the property id its events carry; with no site
-- registered, properties stay free-form (zero configuration).
CREATE TABLE sites (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    time_zone  text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- A domain belongs to one site: an Origin's host finds its site here.
CREATE TABLE site_domains (
    domain   text PRIMARY KEY,
    site_id  text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    position integer NOT NULL -- the first domain is the site's own
);
CREATE INDEX site_domains_site_idx ON site_domains (site_id);

-- The exact browser origins CORS allows for a site.
CREATE TABLE site_origins (
    site_id  text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    origin   text NOT NULL,
    position integer NOT NULL,
    PRIMARY KEY (site_id, origin)
);

-- API keys: only the SHA-256 of the whole key is stored; prefix is the
-- public half that finds it. Scopes and sites are comma-separated lists of
-- fixed vocabularies (site ids never hold a comma).
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    prefix       text NOT NULL UNIQUE,
    secret_hash  text NOT NULL,
    label        text NOT NULL DEFAULT '',
    scopes       text NOT NULL,
    sites        text NOT NULL DEFAULT '',
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- Admin actions, kept like the consent ledger (never purged). Subjects are
-- named by pseudonym only.
CREATE TABLE audit_log (
    id      text PRIMARY KEY,
    at      timestamptz NOT NULL,
    actor   text NOT NULL,
    action  text NOT NULL,
    target  text NOT NULL DEFAULT '',
    site_id text NOT NULL DEFAULT '',
    detail  text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);

-- The zone a rollup row's day was counted in ('' for rows built before).
ALTER TABLE daily_metric_rollups ADD COLUMN time_zone text NOT NULL DEFAULT '';

-- People who log in. Passwords are argon2id PHC strings.
CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    -- TOTP second factor: the shared secret (base32; pending until
    -- confirmed, then totp_enabled_at is set) and the last time step used,
    -- so that no code is accepted twice.
    totp_secret     text NOT NULL DEFAULT '',
    totp_enabled_at timestamptz,
    totp_last_step  bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- A user's role per site; site_id '*' is every site.
CREATE TABLE user_roles (
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    site_id text NOT NULL,
    role    text NOT NULL,
    PRIMARY KEY (user_id, site_id)
);

-- Single-use recovery codes of the TOTP factor, as SHA-256.
CREATE TABLE user_recovery_codes (
    user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Login sessions: only the SHA-256 of the cookie's token is stored.
CREATE TABLE login_sessions (
    id           text PRIMARY KEY,
    token_hash   text NOT NULL UNIQUE,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX login_sessions_user_idx ON login_sessions (user_id);

-- Shared links: a read-only view of one site's figures. Only the SHA-256
-- of the URL's token is stored; the optional password is argon2id.
CREATE TABLE shared_links (
    id            text PRIMARY KEY,
    token_hash    text NOT NULL UNIQUE,
    site_id       text NOT NULL,
    label         text NOT NULL DEFAULT '',
    password_hash text NOT NULL DEFAULT '',
    filter        text NOT NULL DEFAULT '',
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX shared_links_site_idx ON shared_links (site_id);
