-- The ingest epoch: a counter that every statement changing visitors or
-- sessions bumps, before it touches a row. The event writer keeps the
-- visitors it has seen in memory and trusts that copy only while the epoch
-- is where its own last commit left it; anything else that writes these
-- tables (another process, a lead capture, retention, erasure) moves it.
-- Bumping takes the row's lock first, so every writer of visitors and
-- sessions, in every process, is serialised in one order: epoch, then rows.
CREATE TABLE ingest_epoch (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO ingest_epoch (id, seq) VALUES (1, 0);

CREATE FUNCTION bump_ingest_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER visitors_bump_ingest_epoch BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON visitors
    FOR EACH STATEMENT EXECUTE FUNCTION bump_ingest_epoch();
CREATE TRIGGER sessions_bump_ingest_epoch BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_ingest_epoch();

-- ingest_guard opens a batch the writer planned from its cache without
-- reading: it takes the epoch lock and fails the transaction unless the
-- epoch is the one the plan was made at (MK001: someone else wrote since)
-- and no event with one of keys was received at or after the matching
-- since, i.e. none of the batch's events is a duplicate of a stored one
-- (MK002).
CREATE FUNCTION ingest_guard(expected bigint, keys bytea[], since timestamptz[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT seq FROM ingest_epoch WHERE id = 1 FOR UPDATE) <> expected THEN
        RAISE EXCEPTION 'ingest epoch moved' USING ERRCODE = 'MK001';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(keys, since) AS k(key, since)
            CROSS JOIN LATERAL (SELECT 1 FROM events e
                WHERE e.dedupe_key = k.key AND e.received_at >= k.since LIMIT 1) d) THEN
        RAISE EXCEPTION 'a stored event has the same dedupe key' USING ERRCODE = 'MK002';
    END IF;
END
$$;
