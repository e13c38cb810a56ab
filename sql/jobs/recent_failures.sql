-- The last failed jobs, and queued ones whose previous attempt failed (waiting to retry),
-- with the operators' whole error text where there is one.
-- Parameters:
--   $1 limit integer
SELECT id, kind, status, project_id, attempts, max_attempts, coalesce(error_detail, error) AS error,
       finished_at, run_after, updated_at
FROM jobs
WHERE error IS NOT NULL
  AND status IN ('failed', 'queued')
ORDER BY updated_at DESC
LIMIT $1;
