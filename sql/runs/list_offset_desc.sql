-- Runs visible to the caller, newest first: one page by LIMIT/OFFSET.
-- Used for the first pages (offset below OFFSET_THRESHOLD) and from either edge of a cursor walk.
-- Parameters:
--   $1 owner_id   uuid: the caller's id, or NULL for an admin (all rows)
--   $2 project_id uuid: or NULL
--   $3 limit  integer: rows to return (page_size + 1, to know has_next)
--   $4 offset integer
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT id, project_id, is_batch, status, started_at, completed_at, logs, error_message,
       created_at, updated_at
FROM runs
WHERE ($1::uuid IS NULL OR runs.owner_id = $1)
  AND ($2::uuid IS NULL OR runs.project_id = $2)
ORDER BY runs.created_at DESC, runs.id DESC
LIMIT $3 OFFSET $4;
