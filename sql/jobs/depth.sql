-- Jobs by kind and status (the queue's depth and outcomes), with the oldest age of each.
-- Parameters: none
SELECT kind, status, count(*) AS jobs,
       extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS oldest_age_s
FROM jobs
GROUP BY kind, status
ORDER BY kind, status;
