-- Background jobs (issue 10, docs/API.md section 8). One table is both the queue
-- and the record the API shows: workers claim queued rows with FOR UPDATE SKIP
-- LOCKED, keep them alive with heartbeats, and a row whose heartbeat stops is
-- re-queued (or failed past max_attempts). A job is inserted in the transaction
-- of the request that asks for it, so it exists exactly when that request succeeded.
CREATE TABLE jobs (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL for the service's own jobs (maintenance): only admins see those.
    owner_id         uuid        REFERENCES users (id) ON DELETE CASCADE,
    kind             text        NOT NULL
                     CHECK (kind IN ('export', 'report', 'email', 'maintenance')),
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    project_id       uuid        REFERENCES projects (id) ON DELETE CASCADE,
    params           jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer     NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    progress_done    bigint      NOT NULL DEFAULT 0,
    progress_total   bigint,
    error            text,
    -- A queued job is not claimed before this (retry backoff).
    run_after        timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at     timestamptz,
    worker_id        text,
    cancel_requested boolean     NOT NULL DEFAULT false,
    -- Idempotency-Key of the POST that created it (unique per owner; a key older
    -- than 24 h is released by the next request that reuses it).
    idempotency_key  text        CHECK (length(idempotency_key) BETWEEN 1 AND 128),
    -- Scheduled jobs: one per key across every worker and instance (maintenance slots).
    dedupe_key       text        UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The list (GET /api/jobs), for admins and per owner, and its status/kind filters.
CREATE INDEX jobs_created_at_id_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_owner_created_at_id_idx ON jobs (owner_id, created_at DESC, id DESC);
CREATE INDEX jobs_status_created_at_id_idx ON jobs (status, created_at DESC, id DESC);
-- The claim: queued jobs that are due, oldest due first.
CREATE INDEX jobs_queued_run_after_idx ON jobs (run_after, created_at) WHERE status = 'queued';
-- The rescue: running jobs by heartbeat.
CREATE INDEX jobs_running_heartbeat_idx ON jobs (heartbeat_at) WHERE status = 'running';
-- Retention: finished jobs by age.
CREATE INDEX jobs_finished_at_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_project_id_idx ON jobs (project_id) WHERE project_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_owner_idempotency_key ON jobs (owner_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- A worker hears of new work at once: NOTIFY is transactional, so it is sent when
-- the enqueuing transaction commits (and never for one that rolls back).
CREATE FUNCTION notify_jobs_enqueued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cj_jobs', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_enqueued
    AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_jobs_enqueued();

-- A finished job's result, in the database so that every instance can serve it.
-- The bytes are chunks of job_result_chunks, written by the attempt that succeeded
-- in the same transaction that marks the job succeeded: a result exists once, and
-- only for a succeeded job.
CREATE TABLE job_results (
    job_id       uuid        PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    content_type text        NOT NULL,
    filename     text        NOT NULL,
    bytes        bigint      NOT NULL CHECK (bytes >= 0),
    rows         bigint,
    sha256       text        NOT NULL CHECK (length(sha256) = 64),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE job_result_chunks (
    job_id  uuid    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    seq     integer NOT NULL CHECK (seq >= 0),
    data    bytea   NOT NULL,
    PRIMARY KEY (job_id, attempt, seq)
);

-- Delivery notices kept when no SMTP_URL is configured (never lost: an operator
-- can read and send them). One per email job, however often the job runs.
CREATE TABLE email_outbox (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id     uuid        UNIQUE REFERENCES jobs (id) ON DELETE SET NULL,
    to_address text        NOT NULL,
    subject    text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Job workers alive (or recently so): one row per worker process, heartbeat
-- every few seconds; /api/health/jobs lists them.
CREATE TABLE job_workers (
    id           text        PRIMARY KEY,
    pid          integer     NOT NULL,
    host         text        NOT NULL,
    concurrency  integer     NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    heartbeat_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    stopped_at   timestamptz
);

-- The list filters of GET /api/jobs, shared by every list query (like migration 0011).
CREATE FUNCTION visible_jobs(
    p_owner_id uuid,
    p_status text,
    p_kind text
) RETURNS SETOF jobs
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT *
    FROM jobs
    WHERE (p_owner_id IS NULL OR jobs.owner_id = p_owner_id)
      AND (p_status IS NULL OR jobs.status = p_status)
      AND (p_kind IS NULL OR jobs.kind = p_kind)
$$;
