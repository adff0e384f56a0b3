-- ingest_guard_next (migration 0008) read its dedupe keys with unnest in
-- FROM. A set-returning function in FROM is a function scan, which
-- materialises its rows into a tuplestore; creating and dropping one for
-- every batch made glibc grow and trim the backend's heap each time (page
-- faults, TLB flushes), about a quarter of the writing backend's CPU
-- together with the writer's own unnest statements. unnest in the select
-- list streams its rows instead. Same signature and behaviour, so a process
-- of the previous release keeps working during a deploy.
CREATE OR REPLACE FUNCTION ingest_guard_next(expected_seq bigint, next_seq bigint, expected_foreign bigint, anons text[], keys bytea[],
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
    IF EXISTS (SELECT 1 FROM (SELECT unnest(keys) AS key, unnest(since) AS since) AS k
            CROSS JOIN LATERAL (SELECT 1 FROM events e
                WHERE e.dedupe_key = k.key AND e.received_at >= k.since LIMIT 1) d) THEN
        RAISE EXCEPTION 'a stored event has the same dedupe key' USING ERRCODE = 'MK002';
    END IF;
    UPDATE ingest_epoch SET seq = next_seq WHERE id = 1;
END
$$;
