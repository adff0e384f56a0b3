-- The ingest epoch: a counter that every change to visitors or sessions
-- bumps. The event writer keeps the visitors it has seen in memory and
-- trusts that copy only while the epoch is where its own last commit left
-- it; anything else that writes these tables (another process on the same
-- file, a lead capture, retention, erasure) moves it. SQLite has only row
-- triggers; the writer's own rows bump it too, and it reads the epoch again
-- just before it commits.
CREATE TABLE ingest_epoch (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq integer NOT NULL
);
INSERT INTO ingest_epoch (id, seq) VALUES (1, 0);

CREATE TRIGGER visitors_insert_epoch AFTER INSERT ON visitors BEGIN UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER visitors_update_epoch AFTER UPDATE ON visitors BEGIN UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER visitors_delete_epoch AFTER DELETE ON visitors BEGIN UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER sessions_insert_epoch AFTER INSERT ON sessions BEGIN UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER sessions_update_epoch AFTER UPDATE ON sessions BEGIN UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1; END;
CREATE TRIGGER sessions_delete_epoch AFTER DELETE ON sessions BEGIN UPDATE ingest_epoch SET seq = seq + 1 WHERE id = 1; END;
