-- A deleted client, project or run also drops its owner's cached lists of the tables
-- that can be filtered by it, on every process.
--
-- Why: `GET /api/projects?client_id=C`, `/api/runs?project_id=P`, `/api/posts?project_id=P`
-- and `/api/posts?run_id=R` answer 404 once the parent is gone. Deleting a parent with
-- children cascades, and the children's own triggers drop those lists; deleting a parent
-- with none sent only `clients:<owner>:<id>`, which feeds the clients namespace alone. So
-- another process kept answering its cached empty list with 200 (the writer's own process
-- drops everything its route writes, cache/invalidation.py). Found by
-- tests/integration/test_adversarial_coherence.py.
--
-- Payloads: as migration 0120, plus, for a DELETE, per distinct owner of the deleted rows
-- and per table filtered by this one:
--   clients   `projects:<owner_id>:+`
--   projects  `runs:<owner_id>:+` and `posts:<owner_id>:+`
--   runs      `posts:<owner_id>:+`
-- `:+` ("new rows") drops the owner's and the admin's lists of that table and no detail:
-- a child's detail is dropped by the child's own trigger if the cascade deleted it (or,
-- for posts of a run, set their run_id to NULL), and no child means no cached detail.
-- Every process already parses this payload, so processes still running the older code
-- during a rolling start understand it too. An UPDATE never changes which parent exists,
-- so updates send what they sent before.

CREATE OR REPLACE FUNCTION notify_cache_invalidation_of_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
    ids text;
    changed bigint;
    filtered_by_this text[];
    child text;
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
        -- The list filters of the API (docs/API.md): which tables name this one in a filter.
        filtered_by_this := CASE TG_TABLE_NAME
            WHEN 'clients' THEN ARRAY['projects']
            WHEN 'projects' THEN ARRAY['runs', 'posts']
            WHEN 'runs' THEN ARRAY['posts']
            ELSE ARRAY[]::text[]
        END;
        FOR owner, ids, changed IN
            SELECT t.owner_id, string_agg(DISTINCT t.id::text, ','), count(DISTINCT t.id)
            FROM old_rows AS t
            GROUP BY t.owner_id
        LOOP
            PERFORM pg_notify('cj_cache_invalidation',
                              TG_TABLE_NAME || ':' || owner || CASE WHEN changed <= 100 THEN ':' || ids ELSE '' END);
            FOREACH child IN ARRAY filtered_by_this LOOP
                PERFORM pg_notify('cj_cache_invalidation', child || ':' || owner || ':+');
            END LOOP;
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
