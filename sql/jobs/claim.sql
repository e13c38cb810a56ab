-- Claim up to `limit` due queued jobs for a worker. SKIP LOCKED: concurrent workers
-- pass over rows another one is claiming, so no job is claimed twice. Each claim is
-- an attempt; pickup_s is how long the job waited since it became due.
-- Parameters:
--   $1 worker_id text, $2 limit integer
WITH due AS (
    SELECT id
    FROM jobs
    WHERE status = 'queued'
      AND run_after <= clock_timestamp()
    ORDER BY run_after, created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET status       = 'running',
    attempts     = jobs.attempts + 1,
    worker_id    = $1,
    started_at   = clock_timestamp(),
    heartbeat_at = clock_timestamp(),
    updated_at   = clock_timestamp()
FROM due
WHERE jobs.id = due.id
RETURNING jobs.id, jobs.owner_id, jobs.kind, jobs.project_id, jobs.params, jobs.attempts, jobs.max_attempts,
          jobs.cancel_requested,
          extract(epoch FROM clock_timestamp() - jobs.run_after)::float8 AS pickup_s;
