-- Cache invalidation scoped to the owner whose rows changed: the NOTIFY payload of a
-- change to clients, projects, runs or posts becomes `<table>:<owner_id>`, one per
-- distinct owner of the statement's rows (read from its transition tables), so one
-- tenant's write costs other tenants no cached answers. TRUNCATE has no rows to
-- read: it keeps the table-wide payload of migration 0010. users and access_tokens
-- keep the table-wide payload too (their cache entries are keyed by token).
-- A trigger with transition tables serves one event, hence three per table.

CREATE FUNCTION notify_cache_invalidation_of_owners() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        FOR owner IN SELECT DISTINCT owner_id FROM new_rows LOOP
            PERFORM pg_notify('cj_cache_invalidation', TG_TABLE_NAME || ':' || owner);
        END LOOP;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        FOR owner IN SELECT DISTINCT owner_id FROM old_rows LOOP
            PERFORM pg_notify('cj_cache_invalidation', TG_TABLE_NAME || ':' || owner);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['clients', 'projects', 'runs', 'posts'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_notify_cache_invalidation', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation_of_owners()',
                       t || '_notify_cache_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation_of_owners()',
                       t || '_notify_cache_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation_of_owners()',
                       t || '_notify_cache_delete', t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation()',
                       t || '_notify_cache_truncate', t);
    END LOOP;
END;
$$;
