-- The pid of the server process this statement runs in. Directly connected it is the pid
-- the server announced at startup (BackendKeyData); through PgBouncer it is not: the
-- pooler hands its clients cancel keys of its own.
-- Parameters: none
SELECT pg_backend_pid();
