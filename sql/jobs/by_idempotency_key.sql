-- The job an owner created with this Idempotency-Key (within the last 24 hours).
-- Parameters:
--   $1 owner_id uuid, $2 idempotency_key text
SELECT id
FROM jobs
WHERE owner_id = $1
  AND idempotency_key = $2;
