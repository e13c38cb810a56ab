-- Runs visible to the caller, oldest first: one page by LIMIT/OFFSET.
-- Used for the first pages (offset below OFFSET_THRESHOLD) and from either edge of a cursor walk.
-- Parameters:
--   $1  owner_id   uuid: the caller's id, or NULL for an admin (all rows)
--   $2  project_id uuid: or NULL
--   $3  limit  integer: rows to return (page_size + 1, to know has_next)
--   $4  offset integer
-- The filters live in visible_runs() (migration 0011), shared by every query of this list.
SELECT id, project_id, is_batch, status, started_at, completed_at,
       jsonb_array_length(logs) AS log_count, error_message,
       created_at, updated_at
FROM visible_runs($1, $2) AS runs
ORDER BY runs.created_at ASC, runs.id ASC
LIMIT $3 OFFSET $4;
