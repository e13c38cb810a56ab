-- On the embedded server, as its superuser: the CREATE ROLE statements for the two
-- roles of the service that do not exist yet. Neither is a superuser, may create
-- roles or databases; the owner gets the database (CREATE DATABASE ... OWNER) and
-- runs the migrations, the serving role only gets what roles/serving_grants gives.
-- The embedded server accepts local socket connections without a password
-- (trust), so none is set.
-- Parameters:
--   $1 owner text: the owner role
--   $2 serving text: the serving role
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS', name)
       AS statement
FROM unnest(ARRAY[$1::text, $2::text]) AS name
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name);
