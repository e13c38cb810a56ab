-- Mark a running job succeeded, if this worker's attempt still holds it and its
-- cancellation was not asked for. cancel_requested comes back NULL when the attempt
-- no longer holds the job, true when it was cancelled meanwhile (nothing changed
-- then: the caller rolls back the result it wrote in the same transaction).
-- `despite_cancel`: the work is done and cannot be undone (a delivery notice the SMTP
-- server accepted): the job succeeds, cancellation asked for or not, so that it says
-- what happened (id comes back).
-- Parameters:
--   $1 id uuid, $2 worker_id text, $3 attempt integer, $4 progress_done bigint, $5 progress_total bigint,
--   $6 despite_cancel boolean
WITH held AS (
    SELECT id, cancel_requested
    FROM jobs
    WHERE id = $1
      AND worker_id = $2
      AND attempts = $3
      AND status = 'running'
    FOR UPDATE
), done AS (
    UPDATE jobs
    SET status         = 'succeeded',
        finished_at    = clock_timestamp(),
        heartbeat_at   = NULL,
        error          = NULL,
        progress_done  = $4,
        progress_total = $5,
        updated_at     = clock_timestamp()
    FROM held
    WHERE jobs.id = held.id
      AND (NOT held.cancel_requested OR $6)
    RETURNING jobs.id
)
SELECT (SELECT cancel_requested FROM held) AS cancel_requested, (SELECT id FROM done) AS id;
