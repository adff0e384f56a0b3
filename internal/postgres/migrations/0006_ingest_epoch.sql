-- The ingest epoch. The event writer keeps the visitors it has seen (row
-- and latest session) in memory and trusts that copy only while nothing
-- else has written visitors or sessions since its own last commit. Two
-- counters tell it: ingest_epoch.seq, which every event writer (in any
-- process) bumps once per batch, and the sequence ingest_foreign_writes,
-- which every other statement changing visitors or sessions (lead
-- captures, retention, erasure, a person with psql) advances (the trigger
-- below). The ingest lock, a transaction-level advisory lock (class
-- 1835758693, key 1), orders them: event batches take it exclusively,
-- everything else in share mode before touching a row. So event batches
-- exclude each other and everything else, lead captures only wait for an
-- event batch, and a waiting batch is not starved by a stream of captures
-- (the lock manager queues a new share request behind a waiting exclusive
-- one). After taking it, a writer reads both counters and knows whether its
-- copy still holds. A writer marks its transactions with the setting
-- marketing.ingest_writer so that its own statements do not count.
CREATE TABLE ingest_epoch (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO ingest_epoch (id, seq) VALUES (1, 0);

CREATE SEQUENCE ingest_foreign_writes;
SELECT nextval('ingest_foreign_writes'); -- from now on every nextval moves last_value

CREATE FUNCTION note_foreign_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('marketing.ingest_writer', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_advisory_xact_lock_shared(1835758693, 1);
        PERFORM nextval('ingest_foreign_writes');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER visitors_note_foreign_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON visitors
    FOR EACH STATEMENT EXECUTE FUNCTION note_foreign_write();
CREATE TRIGGER sessions_note_foreign_write BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION note_foreign_write();

-- ingest_guard opens a batch the writer planned from its cache without
-- reading: it takes the ingest lock exclusively and fails the transaction
-- unless seq plus the foreign writes' last value is the one the plan was
-- made at (MK001: someone wrote since) and no event with one of keys was
-- received at or after the matching since, i.e. none of the batch's events
-- is a duplicate of a stored one (MK002). Then it bumps seq.
CREATE FUNCTION ingest_guard(expected bigint, keys bytea[], since timestamptz[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
    f bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1835758693, 1);
    SELECT seq INTO s FROM ingest_epoch WHERE id = 1;
    SELECT last_value INTO f FROM ingest_foreign_writes; -- after the lock: no foreign writer is running
    IF s + f <> expected THEN
        RAISE EXCEPTION 'ingest epoch moved' USING ERRCODE = 'MK001';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(keys, since) AS k(key, since)
            CROSS JOIN LATERAL (SELECT 1 FROM events e
                WHERE e.dedupe_key = k.key AND e.received_at >= k.since LIMIT 1) d) THEN
        RAISE EXCEPTION 'a stored event has the same dedupe key' USING ERRCODE = 'MK002';
    END IF;
    UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1;
END
$$;
