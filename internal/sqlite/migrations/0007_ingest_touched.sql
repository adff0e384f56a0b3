-- Foreign writes that name their visitors. Without this, any foreign write
-- (migration 0006) makes the event writer drop its whole visitor cache, and
-- a site taking sign-ups while it takes events would keep it cold: every
-- capture touches one visitor, yet all of them would be read again.
--
-- A writer that knows what it touched (a lead capture) records the epoch
-- before and after its writes and the anonIds, in the same transaction. An
-- event writer that finds the epoch moved from e0 to e1 follows the rows
-- from e0: if they chain to e1, it forgets only those visitors; if not (a
-- purge, another process's event writer, a row trimmed), it drops
-- everything as before.
CREATE TABLE ingest_touched (
    from_seq integer PRIMARY KEY,
    to_seq   integer NOT NULL,
    anon_ids text NOT NULL, -- a JSON array
    at       integer NOT NULL
);
