-- A user's read-your-writes fence (on the primary), in bytes of WAL; no row: no write.
-- Parameters:
--   $1 user_id uuid: the reader
SELECT (lsn - '0/0'::pg_lsn)::bigint FROM replica_fences WHERE user_id = $1;
