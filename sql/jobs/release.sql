-- A worker shutting down gives a running job back: queued again at once, and the
-- interrupted attempt does not count.
-- Parameters:
--   $1 id uuid, $2 worker_id text, $3 attempt integer
UPDATE jobs
SET status       = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
    finished_at  = CASE WHEN cancel_requested THEN clock_timestamp() END,
    attempts     = attempts - 1,
    run_after    = clock_timestamp(),
    worker_id    = NULL,
    heartbeat_at = NULL,
    updated_at   = clock_timestamp()
WHERE id = $1
  AND worker_id = $2
  AND attempts = $3
  AND status = 'running'
RETURNING id;
