-- Mark a running job succeeded, if this worker's attempt still holds it (else no row,
-- and the caller rolls back the result it wrote in the same transaction).
-- Parameters:
--   $1 id uuid, $2 worker_id text, $3 attempt integer, $4 progress_done bigint, $5 progress_total bigint
UPDATE jobs
SET status         = 'succeeded',
    finished_at    = clock_timestamp(),
    heartbeat_at   = NULL,
    error          = NULL,
    progress_done  = $4,
    progress_total = $5,
    updated_at     = clock_timestamp()
WHERE id = $1
  AND worker_id = $2
  AND attempts = $3
  AND status = 'running'
RETURNING id;
