-- A running job's heartbeat and progress, while its worker still holds it. No row:
-- the job was rescued from this worker (or finished); the worker must stop it.
-- Parameters:
--   $1 id uuid, $2 worker_id text, $3 attempt integer, $4 progress_done bigint, $5 progress_total bigint
UPDATE jobs
SET heartbeat_at   = clock_timestamp(),
    progress_done  = $4,
    progress_total = $5
WHERE id = $1
  AND worker_id = $2
  AND attempts = $3
  AND status = 'running'
RETURNING cancel_requested;
