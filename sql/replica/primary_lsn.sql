-- The primary's WAL write position in bytes: every commit acknowledged before this
-- statement was sent lies at or before it.
-- Parameters: none
SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint;
