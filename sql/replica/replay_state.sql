-- On the replica: is it a standby, up to where has it replayed the primary's WAL (bytes;
-- NULL on a server that is not in recovery), and of which cluster (system_identifier, the
-- same on a primary and every standby made from it: compared with primary_lsn.sql's)?
-- Parameters: none
SELECT pg_is_in_recovery() AS in_recovery,
       (SELECT system_identifier FROM pg_control_system()) AS system_identifier,
       (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS replay_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn_text;
