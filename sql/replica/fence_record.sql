-- After a user's acknowledged write (its transaction has committed on this connection's
-- server): raise the user's fence to the primary's WAL insert position, which is past that
-- commit's record. Not pg_current_wal_lsn(), the write position: with synchronous_commit
-- off a commit is acknowledged before its record is written, and the write position can
-- lie before it: a replica that replayed up to it answered the writer's next read
-- without the write (tests/integration/test_probe_db_faults.py). An insert
-- position at a page's start points past the page header, where no record ends (a
-- replica's replay position is a record's end): taken back to the page boundary, else a
-- replica that replayed everything would look behind it until the next WAL record.
-- Returns the fence as a number of bytes (comparable with replay_state).
-- Parameters:
--   $1 user_id uuid: the writer
WITH here AS (SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS at),
     fence AS (
         SELECT '0/0'::pg_lsn + CASE
                    WHEN at % pg_size_bytes(current_setting('wal_segment_size')) = 40 THEN at - 40  -- long header
                    WHEN at % current_setting('wal_block_size')::bigint = 24 THEN at - 24         -- short header
                    ELSE at
                END AS lsn
         FROM here)
INSERT INTO replica_fences AS f (user_id, lsn)
SELECT $1, fence.lsn FROM fence
ON CONFLICT (user_id) DO UPDATE SET lsn = greatest(f.lsn, EXCLUDED.lsn)
RETURNING (lsn - '0/0'::pg_lsn)::bigint;
