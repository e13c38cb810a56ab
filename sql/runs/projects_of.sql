-- The project of each run among these ids (a post may only name a run of its own project).
-- Parameters:
--   $1 ids uuid[]
SELECT id, project_id
FROM runs
WHERE id = ANY($1::uuid[]);
