-- Claim up to `limit` due queued jobs for a worker, fairly across owners (README
-- "Background jobs"): first the jobs of owners with the fewest jobs running (none before
-- one), then the lowest turn (jobs.turn, migration 0150: owners with jobs queued take
-- turns), then the oldest. One owner's backlog therefore delays no one else's job.
--
-- Only a bounded front of the queue is weighed, so a claim costs the same few index
-- probes with 10 or 1,000,000 jobs queued:
--   * the first 64 jobs not yet tried, in turn order (jobs_queued_turn_idx): those waiting
--     longest for their turn, such as the backlog of an owner who had a job running meanwhile;
--   * the first 64 from the current turn on (the highest turn claimed so far, one probe of
--     jobs_claimed_turn_idx): where a newcomer's job is;
--   * the first 64 jobs tried before that are due again (jobs_retry_run_after_idx: a retry
--     whose backoff ended, a rescued job); retries still waiting are not read at all.
-- The owners running something come from the running jobs (few: the workers' concurrency
-- together). Jobs of no owner (maintenance) are one more owner.
--
-- SKIP LOCKED: concurrent workers pass over rows another one is claiming, so no job is
-- claimed twice; a row another worker claimed meanwhile fails the status re-check and is
-- left (up to 192 rows of the front: more claims than that at the same moment would leave
-- a worker with fewer jobs than it asked for until its next claim). Each claim is an
-- attempt; pickup_s is how long the job waited since it became due.
--
-- newcomers_only: only jobs whose owner has nothing running (a worker's spare slot,
-- service/jobs/worker.py: a newcomer is not made to wait for long jobs holding every slot).
-- Parameters:
--   $1 worker_id text, $2 limit integer, $3 newcomers_only boolean
WITH busy AS MATERIALIZED (
    SELECT coalesce(owner_id, '00000000-0000-0000-0000-000000000000') AS owner_key, count(*) AS running
    FROM jobs
    WHERE status = 'running'
    GROUP BY 1
), front AS MATERIALIZED (
    SELECT f.id, coalesce(busy.running, 0) AS running, f.turn, f.created_at
    FROM ((SELECT id, owner_id, turn, created_at
           FROM jobs
           WHERE status = 'queued'
             AND attempts = 0
             AND run_after <= clock_timestamp()
           ORDER BY turn, created_at
           LIMIT 64)
          UNION
          (SELECT id, owner_id, turn, created_at
           FROM jobs
           WHERE status = 'queued'
             AND attempts = 0
             AND run_after <= clock_timestamp()
             AND turn >= (SELECT coalesce(max(turn), 0) FROM jobs WHERE started_at IS NOT NULL)
           ORDER BY turn, created_at
           LIMIT 64)
          UNION
          (SELECT id, owner_id, turn, created_at
           FROM jobs
           WHERE status = 'queued'
             AND attempts > 0
             AND run_after <= now()             -- stable, so an index bound (the claim is one statement)
           ORDER BY run_after
           LIMIT 64)) AS f
    LEFT JOIN busy ON busy.owner_key = coalesce(f.owner_id, '00000000-0000-0000-0000-000000000000')
    ORDER BY 2, 3, 4
), picked AS MATERIALIZED (
    SELECT jobs.id
    FROM front
    JOIN jobs ON jobs.id = front.id
    WHERE jobs.status = 'queued'
      AND (NOT $3 OR front.running = 0)
    ORDER BY front.running, front.turn, front.created_at
    LIMIT $2
    FOR UPDATE OF jobs SKIP LOCKED
)
UPDATE jobs
SET status       = 'running',
    attempts     = jobs.attempts + 1,
    worker_id    = $1,
    started_at   = clock_timestamp(),
    heartbeat_at = clock_timestamp(),
    updated_at   = clock_timestamp()
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.id, jobs.owner_id, jobs.kind, jobs.project_id, jobs.params, jobs.attempts, jobs.max_attempts,
          jobs.cancel_requested,
          extract(epoch FROM clock_timestamp() - jobs.run_after)::float8 AS pickup_s;
