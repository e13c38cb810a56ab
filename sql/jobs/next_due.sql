-- Seconds until the next queued job becomes due (0 when one is due now), or NULL
-- when none is queued: how long an idle worker may sleep.
-- Parameters: none
SELECT greatest(extract(epoch FROM min(run_after) - clock_timestamp()), 0)::float8
FROM jobs
WHERE status = 'queued';
