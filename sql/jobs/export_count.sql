-- How many posts an export will write (its progress total).
-- Parameters:
--   $1 project_id uuid, $2 status text (or NULL), $3 platform text (or NULL)
SELECT count(*)
FROM posts
WHERE project_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR target_platform = $3);
