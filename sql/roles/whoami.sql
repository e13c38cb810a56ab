-- The role this session runs as, and the rights that matter for least privilege:
-- the serving role should have none of superuser, createrole, createdb, or CREATE in
-- the database or its public schema (README "Database roles").
-- Parameters: none
SELECT r.rolname AS role,
       r.rolsuper AS superuser,
       r.rolcreaterole AS createrole,
       r.rolcreatedb AS createdb,
       has_database_privilege(current_database(), 'CREATE') AS create_in_database,
       has_schema_privilege('public', 'CREATE') AS create_in_schema
FROM pg_roles r
WHERE r.rolname = current_user;
