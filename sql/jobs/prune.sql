-- Retention: finished jobs (with their results) older than the retention period.
-- Parameters:
--   $1 retention_hours integer
DELETE FROM jobs
WHERE finished_at IS NOT NULL
  AND finished_at < clock_timestamp() - make_interval(hours => $1);
