-- After a user's acknowledged write (its transaction has committed on this connection's
-- server): raise the user's fence to the primary's current WAL position, which is at or
-- past that commit. Returns the fence as a number of bytes (comparable with replay_state).
-- Parameters:
--   $1 user_id uuid: the writer
INSERT INTO replica_fences AS f (user_id, lsn)
VALUES ($1, pg_current_wal_lsn())
ON CONFLICT (user_id) DO UPDATE SET lsn = greatest(f.lsn, EXCLUDED.lsn)
RETURNING (lsn - '0/0'::pg_lsn)::bigint;
