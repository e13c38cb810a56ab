-- One job with its result's summary, if the caller may see it.
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT jobs.id, jobs.kind, jobs.status, jobs.project_id, jobs.params, jobs.attempts, jobs.max_attempts,
       jobs.progress_done, jobs.progress_total, jobs.error, jobs.created_at, jobs.started_at,
       jobs.finished_at, r.content_type AS result_content_type, r.bytes AS result_bytes,
       r.rows AS result_rows, r.sha256 AS result_sha256
FROM jobs
LEFT JOIN job_results AS r ON r.job_id = jobs.id
WHERE jobs.id = $1
  AND ($2::uuid IS NULL OR jobs.owner_id = $2);
