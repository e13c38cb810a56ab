-- The session settings the service relies on, as the server applies them to this
-- session (startup parameters, or the role's defaults in this database behind PgBouncer).
-- Parameters:
--   $1 names text[]: the setting names
SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[]) ORDER BY name;
