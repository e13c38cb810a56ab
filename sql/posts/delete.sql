-- Delete a post the caller may see.
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
DELETE FROM posts
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2)
RETURNING id, project_id;
