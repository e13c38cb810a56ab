-- Cache invalidation scoped to the rows a statement changed, not only their owner
-- (migration 0013 scoped it to the owner). The NOTIFY payload of a change to clients,
-- projects, runs or posts names, per distinct owner of the changed rows:
--   INSERT            `<table>:<owner_id>:+`              new rows only: the owner's
--                                                          lists change, no cached
--                                                          detail can show a new row
--   UPDATE, DELETE    `<table>:<owner_id>:<id>,<id>,...`   up to 100 changed rows: the
--                                                          lists and those rows' details
--                     `<table>:<owner_id>`                 more: everything of the owner
-- so a patch of one post leaves the owner's other cached posts in place (cache/invalidation.py).
-- An UPDATE that moves a row to another owner names it under both owners. 100 uuids
-- are 3,700 bytes, under NOTIFY's 8,000-byte payload limit. TRUNCATE keeps the
-- table-wide payload (migration 0010).

CREATE FUNCTION notify_cache_invalidation_of_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
    ids text;
    changed bigint;
    touched text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR owner IN SELECT DISTINCT owner_id FROM new_rows LOOP
            PERFORM pg_notify('cj_cache_invalidation', TG_TABLE_NAME || ':' || owner || ':+');
        END LOOP;
        RETURN NULL;
    END IF;
    -- new_rows exists only for an UPDATE, and a static query naming it would not
    -- compile for a DELETE: the rows read are chosen here, by dynamic SQL.
    touched := CASE TG_OP
        WHEN 'UPDATE' THEN 'SELECT owner_id, id FROM old_rows UNION ALL SELECT owner_id, id FROM new_rows'
        ELSE 'SELECT owner_id, id FROM old_rows'
    END;
    FOR owner, ids, changed IN EXECUTE
        'SELECT t.owner_id, string_agg(DISTINCT t.id::text, '',''), count(DISTINCT t.id) '
        'FROM (' || touched || ') AS t GROUP BY t.owner_id'
    LOOP
        IF changed <= 100 THEN
            PERFORM pg_notify('cj_cache_invalidation', TG_TABLE_NAME || ':' || owner || ':' || ids);
        ELSE
            PERFORM pg_notify('cj_cache_invalidation', TG_TABLE_NAME || ':' || owner);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

-- The triggers of migration 0013 call the new function (same events, same transition tables).
DO $$
DECLARE
    t text;
    event text;
BEGIN
    FOREACH t IN ARRAY ARRAY['clients', 'projects', 'runs', 'posts'] LOOP
        FOREACH event IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
            EXECUTE format('DROP TRIGGER %I ON %I', t || '_notify_cache_' || event, t);
        END LOOP;
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation_of_rows()',
                       t || '_notify_cache_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation_of_rows()',
                       t || '_notify_cache_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation_of_rows()',
                       t || '_notify_cache_delete', t);
    END LOOP;
END;
$$;

DROP FUNCTION notify_cache_invalidation_of_owners();
