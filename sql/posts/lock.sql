-- Lock a post the caller may see until the transaction ends, and read what a PATCH
-- checks against it (its project) or derives from it (its content, for a recount):
-- a change committed by another request meanwhile waits instead of being overwritten
-- with a figure computed from the older row.
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT project_id, content
FROM posts
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2)
FOR UPDATE;
