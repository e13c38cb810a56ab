-- On the replica: is it a standby, and up to where has it replayed the primary's WAL
-- (bytes; NULL on a server that is not in recovery)?
-- Parameters: none
SELECT pg_is_in_recovery() AS in_recovery,
       (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS replay_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn_text;
