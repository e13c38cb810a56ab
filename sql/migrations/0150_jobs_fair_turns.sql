-- Fair claims across owners (sql/jobs/claim.sql, README "Background jobs").
--
-- Why: the claim took queued jobs oldest first across all owners, so one user who queued
-- N jobs made every other user's job wait for all N (tests/integration/test_job_fairness.py).
--
-- Each job gets a turn when it is enqueued, as in start-time fair queueing:
--   turn = greatest(the current turn, 1 + the owner's last turn among its queued and running jobs)
-- where the current turn is the highest turn any job has been claimed at. An owner's jobs
-- thus take consecutive turns from the current one on, and owners with jobs queued
-- alternate: a newcomer's first job is due at the current turn, behind at most one job of
-- each other owner, however long their backlogs. Jobs of no owner (maintenance) are one
-- more owner. Existing jobs get turn 0.
--
-- The claim takes the lowest turn among the owners with the fewest jobs running; these
-- indexes keep the claim and the enqueue to a few index probes with any number of jobs:
--   jobs_queued_turn_idx        jobs not yet tried, in turn order (the claim's front); all due
--   jobs_retry_run_after_idx    jobs tried before (a retry after its backoff, a rescued
--                               job) by when they are due: a claim reads the due ones only,
--                               never the retries still waiting
--   jobs_claimed_turn_idx       the current turn (highest claimed), one probe from the end
--   jobs_active_owner_turn_idx  an owner's last turn, and its count of queued and running
--                               jobs (JOBS_MAX_ACTIVE_PER_USER, service/jobs/quota.py)
-- A retry keeps its turn (it runs again as soon as its backoff ends); a job given back at
-- shutdown or rescued keeps it too.

ALTER TABLE jobs ADD COLUMN turn bigint NOT NULL DEFAULT 0;
-- From now on the trigger below gives the turn; an INSERT may still name one (tests, bulk loads).
ALTER TABLE jobs ALTER COLUMN turn DROP DEFAULT;

CREATE INDEX jobs_queued_turn_idx ON jobs (turn, created_at) WHERE status = 'queued' AND attempts = 0;
CREATE INDEX jobs_retry_run_after_idx ON jobs (run_after) WHERE status = 'queued' AND attempts > 0;
CREATE INDEX jobs_claimed_turn_idx ON jobs (turn) WHERE started_at IS NOT NULL;
CREATE INDEX jobs_active_owner_turn_idx ON jobs (owner_id, turn) WHERE status IN ('queued', 'running');

CREATE FUNCTION jobs_take_turn() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    current_turn bigint;
    own_next bigint;
BEGIN
    SELECT turn INTO current_turn
    FROM jobs
    WHERE started_at IS NOT NULL
    ORDER BY turn DESC
    LIMIT 1;
    IF NEW.owner_id IS NULL THEN
        SELECT turn + 1 INTO own_next
        FROM jobs
        WHERE owner_id IS NULL AND status IN ('queued', 'running')
        ORDER BY turn DESC
        LIMIT 1;
    ELSE
        -- No lock here: two concurrent enqueues of one owner may take the same turn (a tie,
        -- broken by age). The cap's count is serialised by the enqueuing request itself
        -- (sql/jobs/lock_owner.sql, before it reads the project): a lock taken in this
        -- trigger would come after the foreign key's lock on the project row, the reverse of
        -- a PATCH that holds that row and enqueues a delivery email, a deadlock.
        SELECT turn + 1 INTO own_next
        FROM jobs
        WHERE owner_id = NEW.owner_id AND status IN ('queued', 'running')
        ORDER BY turn DESC
        LIMIT 1;
    END IF;
    NEW.turn := greatest(coalesce(current_turn, 0), coalesce(own_next, 0));
    RETURN NEW;
END;
$$;

CREATE TRIGGER jobs_take_turn
    BEFORE INSERT ON jobs
    FOR EACH ROW
    WHEN (NEW.turn IS NULL)
    EXECUTE FUNCTION jobs_take_turn();
