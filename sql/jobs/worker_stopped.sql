-- A worker stopped cleanly.
-- Parameters:
--   $1 id text
UPDATE job_workers
SET stopped_at = clock_timestamp(), heartbeat_at = clock_timestamp()
WHERE id = $1;
