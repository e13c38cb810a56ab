-- Cache coherence across workers and instances: every statement that changes a
-- cached table sends NOTIFY cj_cache_invalidation with the table's name. NOTIFY is
-- transactional, so listeners hear of a change only once it is committed, and a
-- write made anywhere (another instance, psql, a migration) reaches every cache.
CREATE FUNCTION notify_cache_invalidation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cj_cache_invalidation', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER clients_notify_cache_invalidation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation();

CREATE TRIGGER projects_notify_cache_invalidation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation();

CREATE TRIGGER runs_notify_cache_invalidation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON runs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation();

CREATE TRIGGER posts_notify_cache_invalidation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON posts
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation();

-- New users and new tokens change no cached answer; changed or removed ones do
-- (logout, an admin flag, a deleted user).
CREATE TRIGGER users_notify_cache_invalidation
    AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation();

CREATE TRIGGER access_tokens_notify_cache_invalidation
    AFTER UPDATE OR DELETE OR TRUNCATE ON access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache_invalidation();
