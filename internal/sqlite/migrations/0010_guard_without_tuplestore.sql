-- PostgreSQL only (its event writer's guard; see the PostgreSQL migration
-- of this number).
SELECT 1;
