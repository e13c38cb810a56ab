-- The project of each run among these ids that the caller may see (a post may only name
-- a run of its own project; a run the caller may not see is answered as a missing one).
-- Parameters:
--   $1 ids uuid[], $2 owner_id uuid (NULL for an admin)
SELECT id, project_id
FROM runs
WHERE id = ANY($1::uuid[])
  AND ($2::uuid IS NULL OR owner_id = $2);
