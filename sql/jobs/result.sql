-- A job's status and, when it succeeded, its result's description, if the caller may see it.
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT jobs.id, jobs.status, jobs.kind, r.attempt, r.content_type, r.filename, r.bytes, r.rows, r.sha256
FROM jobs
LEFT JOIN job_results AS r ON r.job_id = jobs.id
WHERE jobs.id = $1
  AND ($2::uuid IS NULL OR jobs.owner_id = $2);
