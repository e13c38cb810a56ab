-- A delivery notice that sent nothing (its project was reopened before it went out) gives
-- up its once-a-day key, so the project's next delivery is noticed.
-- Parameters:
--   $1 id uuid
UPDATE jobs
SET idempotency_key = NULL
WHERE id = $1;
