"""Database access, the one way to run SQL: the SQL registry (registry), the query
runner (database), the instrumented pool (pool), driver errors as API errors
(errors), migrations, whole databases (admin), questions to the server (server),
and the embedded PostgreSQL (embedded).

Connection routing (primary through PgBouncer, a direct session connection for
migrations, LISTEN and job wake-ups, a read replica with read-your-writes) is to
land here as routing.py (issue 9)."""
