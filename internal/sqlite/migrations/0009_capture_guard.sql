-- PostgreSQL only (a lead capture that locks late; see the PostgreSQL
-- migration of this number). On SQLite a capture holds the one write
-- connection from its first statement, as before.
SELECT 1;
