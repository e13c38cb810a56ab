-- One run, if the caller may see it.
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT id, project_id, is_batch, status, started_at, completed_at, logs, error_message,
       created_at, updated_at
FROM runs
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2);
