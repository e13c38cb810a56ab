-- Enqueue a job (in the caller's transaction). With an Idempotency-Key already used
-- by this owner nothing is inserted and no row comes back: the caller then reads the
-- first job (jobs/by_idempotency_key). The trigger of migration 0020 NOTIFYs the
-- workers when the transaction commits.
-- Parameters:
--   $1 owner_id uuid (NULL: a job of the service itself), $2 kind text, $3 project_id uuid,
--   $4 params jsonb, $5 max_attempts integer, $6 idempotency_key text (or NULL)
INSERT INTO jobs (owner_id, kind, project_id, params, max_attempts, idempotency_key)
VALUES ($1, $2, $3, $4::jsonb, $5, $6)
ON CONFLICT (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id;
