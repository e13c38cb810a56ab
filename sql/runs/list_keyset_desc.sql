-- Runs visible to the caller that come after a key in DESC order (keyset page).
-- The row comparison (created_at, id) < (key) is one range of the (created_at, id)
-- index (or of a filter-led composite), whatever the depth.
-- Parameters:
--   $1  owner_id   uuid: the caller's id, or NULL for an admin (all rows)
--   $2  project_id uuid: or NULL
--   $3  key_created_at timestamptz: created_at of the last row seen
--   $4  key_id         uuid:        id of the last row seen (breaks created_at ties)
--   $5  limit          integer:     rows to return
-- The filters live in visible_runs() (migration 0011), shared by every query of this list.
SELECT id, project_id, is_batch, status, started_at, completed_at,
       jsonb_array_length(logs) AS log_count, error_message,
       created_at, updated_at
FROM visible_runs($1, $2) AS runs
WHERE (runs.created_at, runs.id) < ($3::timestamptz, $4::uuid)
ORDER BY runs.created_at DESC, runs.id DESC
LIMIT $5;
