-- The statements the owner (who ran the migrations) runs to give the serving role
-- what the service does at run time, and nothing more: read and write rows of the
-- application's tables, use their sequences, call its functions. No CREATE, so no
-- DDL; the migration ledger is read-only to it. Default privileges make tables and
-- sequences the owner creates later usable too (each start re-grants anyway).
-- Generated as text because GRANT takes no parameters; %I quotes the role name.
-- Parameters:
--   $1 role text: the serving role
SELECT statement FROM unnest(ARRAY[
    format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), $1::text),
    format('GRANT USAGE ON SCHEMA public TO %I', $1::text),
    format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', $1::text),
    format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM %I', $1::text),
    format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %I', $1::text),
    format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
           $1::text),
    format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I', $1::text)
]) AS statement;
