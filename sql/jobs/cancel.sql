-- Cancel a job the caller may see: a queued one at once; a running one is flagged
-- and its worker stops at its next checkpoint. No row for a finished job (or none).
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
UPDATE jobs
SET status           = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
    finished_at      = CASE WHEN status = 'queued' THEN clock_timestamp() ELSE finished_at END,
    cancel_requested = true,
    updated_at       = clock_timestamp()
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2)
  AND status IN ('queued', 'running')
RETURNING id;
