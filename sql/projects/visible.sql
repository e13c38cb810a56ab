-- Whether the caller may see a project (a project_id filter or parent is 404 otherwise).
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT EXISTS (SELECT 1 FROM projects WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2));
