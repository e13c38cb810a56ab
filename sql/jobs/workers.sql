-- Workers heard of in the last hour, latest heartbeat first, with their running jobs.
-- Parameters: none
SELECT w.id, w.pid, w.host, w.concurrency, w.started_at, w.heartbeat_at, w.stopped_at,
       (SELECT count(*) FROM jobs WHERE jobs.status = 'running' AND jobs.worker_id = w.id) AS running
FROM job_workers AS w
WHERE w.heartbeat_at > clock_timestamp() - interval '1 hour'
ORDER BY w.heartbeat_at DESC
LIMIT 100;
