-- Jobs running now, longest running first.
-- Parameters:
--   $1 limit integer
SELECT id, kind, project_id, worker_id, attempts, max_attempts, progress_done, progress_total,
       started_at, heartbeat_at
FROM jobs
WHERE status = 'running'
ORDER BY started_at
LIMIT $1;
