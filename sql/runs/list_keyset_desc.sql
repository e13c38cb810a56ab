-- Runs visible to the caller that come after a key in DESC order (keyset page).
-- The row comparison (created_at, id) < (key) is one range of the (created_at, id)
-- index (or of a filter-led composite), whatever the depth.
-- Parameters:
--   $1 owner_id   uuid: the caller's id, or NULL for an admin (all rows)
--   $2 project_id uuid: or NULL
--   $3 key_created_at timestamptz: created_at of the last row seen
--   $4 key_id         uuid:        id of the last row seen (breaks created_at ties)
--   $5 limit          integer:     rows to return
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT id, project_id, is_batch, status, started_at, completed_at, logs, error_message,
       created_at, updated_at
FROM runs
WHERE ($1::uuid IS NULL OR runs.owner_id = $1)
  AND ($2::uuid IS NULL OR runs.project_id = $2)
  AND (runs.created_at, runs.id) < ($3::timestamptz, $4::uuid)
ORDER BY runs.created_at DESC, runs.id DESC
LIMIT $5;
