-- Retention: the oldest finished jobs older than the retention period (with their
-- results), at most `batch` of them and, after the first, at most `max_bytes` of results
-- in all. The maintenance job repeats it, each batch in its own transaction, until one
-- deletes nothing: one DELETE of a whole backlog could outlast the statement timeout and
-- then fail every maintenance run for ever, and so could 100 large exports at once (a
-- trigger deletes each one's chunks, about 520 TOAST rows per MiB).
-- Parameters:
--   $1 retention_hours integer, $2 batch integer, $3 max_bytes bigint
WITH oldest AS (
    SELECT jobs.id,
           row_number() OVER w AS n,
           sum(coalesce(job_results.bytes, 0)) OVER w AS bytes_so_far
    FROM jobs
    LEFT JOIN job_results ON job_results.job_id = jobs.id
    WHERE jobs.finished_at IS NOT NULL
      AND jobs.finished_at < clock_timestamp() - make_interval(hours => $1)
    WINDOW w AS (ORDER BY jobs.finished_at, jobs.id ROWS UNBOUNDED PRECEDING)
    ORDER BY jobs.finished_at, jobs.id
    LIMIT $2
)
DELETE FROM jobs
WHERE id IN (SELECT id
             FROM oldest
             WHERE n = 1
                OR bytes_so_far <= $3);
