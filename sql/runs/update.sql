-- Change the given fields of a run the caller may see. started_at is set when the
-- run leaves pending, completed_at when it reaches succeeded or failed.
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin), $3 given text[],
--   $4 status text, $5 error_message text, $6 logs jsonb
UPDATE runs
SET status        = CASE WHEN 'status' = ANY($3) THEN $4 ELSE status END,
    error_message = CASE WHEN 'error_message' = ANY($3) THEN $5 ELSE error_message END,
    logs          = CASE WHEN 'logs' = ANY($3) THEN coalesce($6::jsonb, '[]') ELSE logs END,
    started_at    = CASE WHEN 'status' = ANY($3) AND $4 <> 'pending' AND started_at IS NULL
                         THEN clock_timestamp() ELSE started_at END,
    completed_at  = CASE WHEN 'status' = ANY($3)
                         THEN CASE WHEN $4 IN ('succeeded', 'failed')
                                   THEN coalesce(completed_at, clock_timestamp()) END
                         ELSE completed_at END,
    updated_at    = clock_timestamp()
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2)
RETURNING id, project_id, is_batch, status, started_at, completed_at, logs, error_message,
          created_at, updated_at;
