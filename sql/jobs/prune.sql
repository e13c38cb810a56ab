-- Retention: up to `batch` finished jobs (with their results) older than the retention
-- period, oldest first. The maintenance job repeats it, each batch in its own
-- transaction, until one comes back short: one DELETE of a whole backlog could outlast
-- the statement timeout and then fail every maintenance run for ever.
-- Parameters:
--   $1 retention_hours integer, $2 batch integer
DELETE FROM jobs
WHERE id IN (SELECT id
             FROM jobs
             WHERE finished_at IS NOT NULL
               AND finished_at < clock_timestamp() - make_interval(hours => $1)
             ORDER BY finished_at
             LIMIT $2);
