-- Running jobs whose worker stopped sending heartbeats (killed, frozen, cut off):
-- queued again at once while attempts remain, else failed; cancelled when that was
-- asked for. SKIP LOCKED: a row a live worker is updating right now is not stale.
-- The error the job's owner reads does not name the worker (its host name and pid are
-- the operator's); the worker comes back for the log line.
-- Parameters:
--   $1 stale_after_s float8: seconds without a heartbeat
WITH stale AS (
    SELECT id, worker_id
    FROM jobs
    WHERE status = 'running'
      AND heartbeat_at < clock_timestamp() - make_interval(secs => $1)
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET status       = CASE WHEN jobs.cancel_requested THEN 'cancelled'
                        WHEN jobs.attempts >= jobs.max_attempts THEN 'failed'
                        ELSE 'queued' END,
    finished_at  = CASE WHEN jobs.cancel_requested OR jobs.attempts >= jobs.max_attempts
                        THEN clock_timestamp() END,
    error        = 'its worker stopped sending heartbeats',
    run_after    = clock_timestamp(),
    worker_id    = NULL,
    heartbeat_at = NULL,
    updated_at   = clock_timestamp()
FROM stale
WHERE jobs.id = stale.id
RETURNING jobs.id, jobs.status, stale.worker_id;
