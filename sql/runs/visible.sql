-- Whether the caller may see a run (a run_id filter names a visible run or is 404).
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2));
