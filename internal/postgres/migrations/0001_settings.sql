-- Process-wide settings that must survive restarts (the generated IP hash
-- pepper outside production, for one).
CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
