-- Read-your-writes with a read replica (service/db/routing.py): after each acknowledged
-- write a user makes, the primary's WAL position (pg_current_wal_lsn() after the commit)
-- is kept here, where every instance can see it. A read of that user goes to the replica
-- only once the replica has replayed past it.
--
-- UNLOGGED: a fence is written on every write request, and an unlogged row costs no
-- WAL and no flush. Standbys cannot read unlogged tables, and need not: fences are read
-- on the primary. After a crash of the primary the table is empty, which loses the
-- fences of writes acknowledged just before it (README, Topology: read replica).
CREATE UNLOGGED TABLE replica_fences (
    user_id uuid   PRIMARY KEY,
    lsn     pg_lsn NOT NULL
);
