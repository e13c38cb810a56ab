-- One owner's capped enqueues one after another (JOBS_MAX_ACTIVE_PER_USER,
-- service/jobs/quota.py): held until the transaction ends, so the owner's count of jobs
-- read after the INSERT sees the jobs its concurrent requests inserted before. Taken as
-- the transaction's first statement, before any row lock (the project's, through the
-- foreign key), so it is never waited for while a row lock is held. Two-key advisory
-- space (class 'jobs.owner'), apart from the migrations' one-key lock.
-- Parameters:
--   $1 owner_id uuid
SELECT pg_advisory_xact_lock(hashtext('jobs.owner'), hashtext($1::uuid::text));
