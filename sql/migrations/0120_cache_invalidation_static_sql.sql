-- The cache invalidation trigger of migration 0100 with static SQL: same payloads, one
-- plan per trigger and session instead of one per write.
--
-- Why: 0100 built its UPDATE/DELETE query as a string and ran it with EXECUTE, so
-- PostgreSQL parsed and planned it again for every statement that changed a row. PL/pgSQL
-- prepares a static query the first time its branch runs and keeps the plan, and a branch
-- naming new_rows is never prepared by a DELETE trigger (which has no new_rows), as the
-- tally trigger of migration 0110 already does. Measured on 1,000,000 posts (pgbench, a
-- content UPDATE of one post by id, 2 clients, synchronous_commit off so that the commit's
-- fsync does not hide the CPU, 10 s each, alternated three times): 1,906 / 1,952 / 1,943
-- transactions/s with EXECUTE, 2,308 / 2,224 / 2,373 with this function.
--
-- Payloads (unchanged, cache/invalidation.py parses them), per distinct owner of the rows:
--   INSERT            `<table>:<owner_id>:+`
--   UPDATE, DELETE    `<table>:<owner_id>:<id>,<id>,...`   up to 100 changed rows
--                     `<table>:<owner_id>`                 more
-- The triggers of migration 0100 keep calling this function by name.

CREATE OR REPLACE FUNCTION notify_cache_invalidation_of_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
    ids text;
    changed bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR owner IN SELECT DISTINCT owner_id FROM new_rows LOOP
            PERFORM pg_notify('cj_cache_invalidation', TG_TABLE_NAME || ':' || owner || ':+');
        END LOOP;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- An UPDATE that moves a row to another owner names it under both owners.
        FOR owner, ids, changed IN
            SELECT t.owner_id, string_agg(DISTINCT t.id::text, ','), count(DISTINCT t.id)
            FROM (
                SELECT owner_id, id FROM old_rows
                UNION ALL
                SELECT owner_id, id FROM new_rows
            ) AS t
            GROUP BY t.owner_id
        LOOP
            PERFORM pg_notify('cj_cache_invalidation',
                              TG_TABLE_NAME || ':' || owner || CASE WHEN changed <= 100 THEN ':' || ids ELSE '' END);
        END LOOP;
    ELSE
        FOR owner, ids, changed IN
            SELECT t.owner_id, string_agg(DISTINCT t.id::text, ','), count(DISTINCT t.id)
            FROM old_rows AS t
            GROUP BY t.owner_id
        LOOP
            PERFORM pg_notify('cj_cache_invalidation',
                              TG_TABLE_NAME || ':' || owner || CASE WHEN changed <= 100 THEN ':' || ids ELSE '' END);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
