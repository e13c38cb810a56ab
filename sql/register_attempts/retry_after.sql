-- Seconds until this address may register again: NULL while fewer than max_attempts
-- attempts of the address lie within the window (the caller's own attempt, already
-- recorded, included: it passes max_attempts + 1). When refused, it is when the
-- max_attempts-th newest attempt leaves the window, rounded up.
-- Parameters:
--   $1 address      text: the client address (auth/throttle.py)
--   $2 window_s     integer: REGISTER_WINDOW_S
--   $3 max_attempts integer: REGISTER_MAX_PER_ADDRESS (+ 1 for the caller's own row)
WITH counted AS (
    SELECT at FROM register_attempts
    WHERE address = $1 AND at > now() - make_interval(secs => $2)
    ORDER BY at DESC
    OFFSET $3 - 1 LIMIT 1
)
SELECT greatest(1, ceil(extract(epoch FROM at + make_interval(secs => $2) - now())))::integer AS retry_after
FROM counted;
