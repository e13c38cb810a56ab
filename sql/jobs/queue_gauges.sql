-- The queue's gauges for GET /metrics (jobs/metrics.py): how long the oldest due queued
-- job has waited for a worker (0 when none is due), and how many jobs failed for good
-- (every attempt used, or rescued past max_attempts) in the last 15 minutes.
-- Both read from the table, so every serving process shows them, with a worker or not.
-- Parameters: none
SELECT coalesce(extract(epoch FROM clock_timestamp() - min(run_after)
                               FILTER (WHERE status = 'queued' AND run_after <= clock_timestamp())),
                0)::float8 AS oldest_due_s,
       count(*) FILTER (WHERE status = 'failed'
                          AND finished_at > clock_timestamp() - interval '15 minutes') AS recent_failures
FROM jobs
WHERE status = 'queued'
   OR (status = 'failed' AND finished_at > clock_timestamp() - interval '15 minutes');
