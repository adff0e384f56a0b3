-- Foreign writes that name their visitors. Without this, any foreign write
-- (migration 0006) makes the event writer drop its whole visitor cache, and
-- a site taking sign-ups while it takes events would keep it cold: every
-- capture touches one visitor, yet all of them would be read again.
--
-- A foreign transaction now takes one value of ingest_foreign_writes, not
-- one per statement, and keeps it in the setting marketing.foreign_write.
-- A writer that knows what it touched (a lead capture) records the anonIds
-- under that value in ingest_touched, in the same transaction. An event
-- writer that finds the foreign counter moved from f0 to f1 reads the rows
-- after f0: if there is one for every value up to f1, it forgets only those
-- visitors; if one is missing (a purge, psql, a rolled-back capture, a row
-- trimmed), it drops everything as before.
CREATE TABLE ingest_touched (
    pos      bigint PRIMARY KEY, -- the writing transaction's value of ingest_foreign_writes
    anon_ids text[] NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION note_foreign_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('marketing.ingest_writer', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_advisory_xact_lock_shared(1835758693, 1);
        IF coalesce(current_setting('marketing.foreign_write', true), '') = '' THEN
            PERFORM set_config('marketing.foreign_write', nextval('ingest_foreign_writes')::text, true);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- ingest_touched_since returns the visitors the foreign writes after
-- foreign_from up to foreign_to touched, or NULL unless every one of them
-- named its visitors.
CREATE FUNCTION ingest_touched_since(foreign_from bigint, foreign_to bigint) RETURNS text[] LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN count(DISTINCT t.pos) = foreign_to - foreign_from THEN coalesce(array_agg(a) FILTER (WHERE a IS NOT NULL), '{}') END
    FROM ingest_touched t LEFT JOIN LATERAL unnest(t.anon_ids) a ON true
    WHERE t.pos > foreign_from AND t.pos <= foreign_to
$$;

-- ingest_guard_touched opens a batch the writer planned from its cache,
-- like ingest_guard (kept for a process of the previous release still
-- running while this one deploys), but lets foreign writes through when each of them
-- named its visitors and none of those is one of anons (this batch's): it
-- returns the foreign counter and the visitors to forget. MK001 otherwise.
CREATE FUNCTION ingest_guard_touched(expected_seq bigint, expected_foreign bigint, anons text[], keys bytea[], since timestamptz[],
        OUT foreign_to bigint, OUT touched text[]) LANGUAGE plpgsql AS $$
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
    UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1;
END
$$;
