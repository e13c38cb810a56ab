-- A running job stopped at a checkpoint because its cancellation was asked for.
-- Parameters:
--   $1 id uuid, $2 worker_id text, $3 attempt integer
UPDATE jobs
SET status       = 'cancelled',
    finished_at  = clock_timestamp(),
    worker_id    = NULL,
    heartbeat_at = NULL,
    updated_at   = clock_timestamp()
WHERE id = $1
  AND worker_id = $2
  AND attempts = $3
  AND status = 'running'
RETURNING id;
