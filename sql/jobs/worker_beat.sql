-- Register a worker or refresh its heartbeat.
-- Parameters:
--   $1 id text, $2 pid integer, $3 host text, $4 concurrency integer
INSERT INTO job_workers (id, pid, host, concurrency)
VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp(), stopped_at = NULL;
