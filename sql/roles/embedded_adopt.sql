-- On the embedded server, as its superuser, in the service's database: hand the
-- database and the objects an earlier version created as the superuser (tables,
-- sequences not owned by a table, views, functions, types of the public schema,
-- extension members excepted) to the owner role, so that the owner can migrate a
-- ./var/pgdata made before the roles existed. Nothing when the owner has them.
-- Parameters:
--   $1 owner text: the owner role
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), $1::text) AS statement
WHERE (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) <> $1::text
UNION ALL
SELECT format('ALTER %s %s OWNER TO %I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             ELSE 'TABLE' END,
              c.oid::regclass, $1::text)
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace
  AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND pg_get_userbyid(c.relowner) <> $1::text
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype IN ('e', 'a', 'i'))
UNION ALL
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1::text)
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace
  AND pg_get_userbyid(p.proowner) <> $1::text
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER TYPE %s OWNER TO %I', t.oid::regtype, $1::text)
FROM pg_type t
WHERE t.typnamespace = 'public'::regnamespace
  AND t.typtype IN ('e', 'd', 'c') AND (t.typtype <> 'c' OR EXISTS (
      SELECT FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
  AND pg_get_userbyid(t.typowner) <> $1::text
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                  AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER SCHEMA public OWNER TO %I', $1::text)
WHERE (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public')
      NOT IN ($1::text, 'pg_database_owner');
