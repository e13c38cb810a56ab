-- The queue's gauges, for GET /metrics (jobs/metrics.py) and GET /api/health/jobs: how
-- long the oldest due queued job has waited for a worker (NULL when none is due; a retry
-- waiting out its backoff is not due), and how many jobs failed for good (every attempt
-- used: fail.sql, rescue.sql) in the last 15 minutes. Read from the table, so every
-- serving process shows them, with a worker or not. Each is one index probe: the oldest entry of jobs_queued_run_after_idx,
-- and the last 15 minutes of jobs_finished_at_id_idx (now() is stable: an index bound).
-- Parameters: none
SELECT (SELECT extract(epoch FROM now() - run_after)::float8
        FROM jobs
        WHERE status = 'queued'
          AND run_after <= now()
        ORDER BY run_after, created_at
        LIMIT 1) AS oldest_due_s,
       (SELECT count(*)
        FROM jobs
        WHERE finished_at > now() - interval '15 minutes'
          AND status = 'failed') AS recent_failures;
