-- A batch planned while the one before it is still in flight (the event
-- writer's pipeline) must not pass its guard unless that batch committed.
-- With seq + 1 it could: if the batch before failed because another
-- process's writer committed one batch, the epoch stands where it would
-- have stood. ingest_guard_next sets the epoch to a value the writer draws
-- at random (next_seq) instead, so the batch after it names a value no
-- other writer produces.
CREATE FUNCTION ingest_guard_next(expected_seq bigint, next_seq bigint, expected_foreign bigint, anons text[], keys bytea[],
        since timestamptz[], OUT foreign_to bigint, OUT touched text[]) LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1835758693, 1);
    SELECT seq INTO s FROM ingest_epoch WHERE id = 1;
    SELECT last_value INTO foreign_to FROM ingest_foreign_writes; -- after the lock: no foreign writer is running
    IF s <> expected_seq OR foreign_to < expected_foreign THEN
        RAISE EXCEPTION 'ingest epoch moved' USING ERRCODE = 'MK001';
    END IF;
    touched := '{}';
    IF foreign_to > expected_foreign THEN
        touched := ingest_touched_since(expected_foreign, foreign_to);
        IF touched IS NULL OR touched && anons THEN
            RAISE EXCEPTION 'ingest epoch moved' USING ERRCODE = 'MK001';
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(keys, since) AS k(key, since)
            CROSS JOIN LATERAL (SELECT 1 FROM events e
                WHERE e.dedupe_key = k.key AND e.received_at >= k.since LIMIT 1) d) THEN
        RAISE EXCEPTION 'a stored event has the same dedupe key' USING ERRCODE = 'MK002';
    END IF;
    UPDATE ingest_epoch SET seq = next_seq WHERE id = 1;
END
$$;

-- The guard of migration 0007, for a process of the previous release still
-- running while this one deploys, is now this one with seq + 1.
CREATE OR REPLACE FUNCTION ingest_guard_touched(expected_seq bigint, expected_foreign bigint, anons text[], keys bytea[], since timestamptz[],
        OUT foreign_to bigint, OUT touched text[]) LANGUAGE sql AS $$
    SELECT g.foreign_to, g.touched FROM ingest_guard_next(expected_seq, expected_seq + 1, expected_foreign, anons, keys, since) g
$$;
