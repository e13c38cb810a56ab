-- The primary's WAL insert position in bytes: every commit acknowledged before this
-- statement was sent lies at or before it, also with synchronous_commit off (the write
-- position, pg_current_wal_lsn(), can lie before such a commit). At a page's start the
-- insert position points past the page header, where no record ends: taken back to the
-- boundary, as in fence_record.sql. With it the cluster's system_identifier, which the
-- replica must share (replay_state.sql): a standby of another cluster is never read.
-- Parameters: none
WITH here AS (SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS at)
SELECT CASE
           WHEN at % pg_size_bytes(current_setting('wal_segment_size')) = 40 THEN at - 40  -- long header
           WHEN at % current_setting('wal_block_size')::bigint = 24 THEN at - 24         -- short header
           ELSE at
       END AS lsn,
       (SELECT system_identifier FROM pg_control_system()) AS system_identifier
FROM here;
