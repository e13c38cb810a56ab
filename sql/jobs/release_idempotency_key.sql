-- An Idempotency-Key holds for 24 hours: an older job keeps its record but gives
-- its key up, so the key can name a new job.
-- Parameters:
--   $1 owner_id uuid, $2 idempotency_key text
UPDATE jobs
SET idempotency_key = NULL
WHERE owner_id = $1
  AND idempotency_key = $2
  AND created_at < now() - interval '24 hours';
