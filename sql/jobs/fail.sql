-- An attempt failed: retry after `retry_in_s` while attempts remain and the failure is
-- not `final` (a retry would fail the same way), else the job failed. The error is kept
-- either way: `error` as the owner reads it, `error_detail` whole for operators (migration
-- 0200). A job whose cancellation was asked for is cancelled instead.
-- Parameters:
--   $1 id uuid, $2 worker_id text, $3 attempt integer, $4 error text, $5 retry_in_s float8,
--   $6 final boolean, $7 error_detail text
UPDATE jobs
SET status       = CASE WHEN cancel_requested THEN 'cancelled'
                        WHEN attempts >= max_attempts OR $6 THEN 'failed'
                        ELSE 'queued' END,
    finished_at  = CASE WHEN cancel_requested OR attempts >= max_attempts OR $6 THEN clock_timestamp() END,
    run_after    = clock_timestamp() + make_interval(secs => $5),
    error        = $4,
    error_detail = $7,
    worker_id    = NULL,
    heartbeat_at = NULL,
    updated_at   = clock_timestamp()
WHERE id = $1
  AND worker_id = $2
  AND attempts = $3
  AND status = 'running'
RETURNING status;
