-- The owners of the projects among these ids that the caller may see (bulk post creation).
-- Parameters:
--   $1 ids uuid[], $2 owner_id uuid (NULL for an admin)
SELECT id, owner_id
FROM projects
WHERE id = ANY($1::uuid[])
  AND ($2::uuid IS NULL OR owner_id = $2);
