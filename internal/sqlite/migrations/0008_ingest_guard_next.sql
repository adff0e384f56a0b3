-- PostgreSQL only (its event writer's pipeline; see the PostgreSQL
-- migration of this number). SQLite's one writer runs one batch at a time.
SELECT 1;
