-- Seconds the oldest due queued job has waited (NULL when none is due).
-- Parameters: none
SELECT extract(epoch FROM clock_timestamp() - min(run_after))::float8
FROM jobs
WHERE status = 'queued'
  AND run_after <= clock_timestamp();
