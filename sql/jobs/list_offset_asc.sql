-- Jobs visible to the caller, oldest first: one page by LIMIT/OFFSET.
-- Parameters:
--   $1  owner_id uuid: the caller's id, or NULL for an admin (all jobs, the service's own included)
--   $2  status   text: or NULL
--   $3  kind     text: or NULL
--   $4  limit  integer: rows to return (page_size + 1, to know has_next)
--   $5  offset integer
-- The filters live in visible_jobs() (migration 0020), shared by every query of this list.
SELECT jobs.id, jobs.kind, jobs.status, jobs.project_id, jobs.params, jobs.attempts, jobs.max_attempts,
       jobs.progress_done, jobs.progress_total, jobs.error, jobs.created_at, jobs.started_at,
       jobs.finished_at, r.content_type AS result_content_type, r.bytes AS result_bytes,
       r.rows AS result_rows, r.sha256 AS result_sha256
FROM visible_jobs($1, $2, $3) AS jobs
LEFT JOIN job_results AS r ON r.job_id = jobs.id
ORDER BY jobs.created_at ASC, jobs.id ASC
LIMIT $4 OFFSET $5;
