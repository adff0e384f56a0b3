-- A lead capture plans its lead_captured event (visitor and session) from
-- a read without locks and takes the ingest lock only for its last round
-- trip, so event batches wait for one round trip of each capture instead
-- of four. capture_guard takes the locks (the ingest lock in share mode,
-- then the visitor's) and checks, under them, that what the capture read
-- still holds: the visitor absent (when planned as new) or the same row,
-- last seen at the same time, its latest session the same with as many
-- events; and no stored event with the capture's dedupe key. MK003
-- otherwise: the capture is rolled back and tried again.
CREATE FUNCTION capture_guard(anon text, visitor_id text, last_seen timestamptz, session_id text, session_events int,
        dedupe bytea, since timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    vid text;
    seen timestamptz;
    sid text;
    n int;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1835758693, 1);
    PERFORM pg_advisory_xact_lock(1835758710, hashtext(anon));
    SELECT v.id, v.last_seen_at INTO vid, seen FROM visitors v WHERE v.anon_id = anon;
    IF vid IS DISTINCT FROM visitor_id OR seen IS DISTINCT FROM last_seen THEN
        RAISE EXCEPTION 'the visitor changed since the capture read it' USING ERRCODE = 'MK003';
    END IF;
    IF vid IS NOT NULL THEN
        SELECT s.id, s.event_count INTO sid, n FROM sessions s WHERE s.visitor_id = vid ORDER BY s.started_at DESC LIMIT 1;
        IF sid IS DISTINCT FROM session_id OR n IS DISTINCT FROM session_events THEN
            RAISE EXCEPTION 'the visitor''s session changed since the capture read it' USING ERRCODE = 'MK003';
        END IF;
    END IF;
    IF dedupe IS NOT NULL AND EXISTS (SELECT 1 FROM events e WHERE e.dedupe_key = dedupe AND e.received_at >= since) THEN
        RAISE EXCEPTION 'the capture''s event was stored meanwhile' USING ERRCODE = 'MK003';
    END IF;
END
$$;
