-- Delete a client the caller may see; its projects, runs and posts go with it (CASCADE).
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
DELETE FROM clients
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2)
RETURNING id;
