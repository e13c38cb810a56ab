-- Worker rows not heard of for the retention period.
-- Parameters:
--   $1 retention_hours integer
DELETE FROM job_workers
WHERE heartbeat_at < clock_timestamp() - make_interval(hours => $1);
