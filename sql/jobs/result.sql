-- A job's status and, when it succeeded, its result's description, if the caller may see it.
-- A user's result is theirs while its project is: an export made while an admin (of
-- another user's project) is not downloadable once the admin flag is gone, although the
-- job row stays the user's (it was, for the whole retention).
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT jobs.id, jobs.status, jobs.kind, r.attempt, r.content_type, r.filename, r.bytes, r.rows, r.sha256
FROM jobs
LEFT JOIN job_results AS r ON r.job_id = jobs.id
WHERE jobs.id = $1
  AND ($2::uuid IS NULL
       OR (jobs.owner_id = $2
           AND (jobs.project_id IS NULL
                OR EXISTS (SELECT 1 FROM projects WHERE projects.id = jobs.project_id AND projects.owner_id = $2))));
