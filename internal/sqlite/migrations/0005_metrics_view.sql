-- PostgreSQL builds an optional materialized view here. SQLite has none, and
-- its summary always reads the rollup tables; this file keeps the two
-- migration sequences numbered alike.
SELECT 1;
