-- Enqueue a job of the service itself under a key that makes it one across every
-- worker and instance (a maintenance time slot): the first insert wins, later ones
-- return no row.
-- Parameters:
--   $1 kind text, $2 params jsonb, $3 dedupe_key text, $4 max_attempts integer
INSERT INTO jobs (kind, params, dedupe_key, max_attempts)
VALUES ($1, $2::jsonb, $3, $4)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id;
