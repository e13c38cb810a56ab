-- What an owner's stored job results take (JOBS_MAX_RESULT_BYTES_PER_USER,
-- service/jobs/quota.py), and how long until the oldest of them is deleted (its job
-- finished JOBS_RETENTION_HOURS before). Over jobs_owner_created_at_id_idx and
-- job_results' primary key: the owner's jobs within retention.
-- Parameters:
--   $1 owner_id uuid, $2 retention_hours integer
SELECT coalesce(sum(job_results.bytes), 0)::bigint AS bytes,
       ceil(extract(epoch FROM min(jobs.finished_at) + make_interval(hours => $2)
                               - clock_timestamp()))::bigint AS oldest_expires_in_s
FROM jobs
JOIN job_results ON job_results.job_id = jobs.id
WHERE jobs.owner_id = $1
  AND jobs.status = 'succeeded';
