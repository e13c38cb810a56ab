-- Seconds until a login for this email from this address may be tried again: NULL
-- while fewer than max_failures failures of the email, and fewer of the address, lie
-- within the window. When throttled, it is when the max_failures-th newest failure
-- (of whichever is blocked longer) leaves the window, rounded up. Login records its
-- attempt first (record.sql) and passes LOGIN_MAX_FAILURES + 1: its own row counts.
-- Parameters:
--   $1 email_normalized text: the login's email, NFKC and trimmed (auth/throttle.py);
--      the key is left(lower(it), 320): lower() as users_email_lower_key and the
--      login lookup compare emails; the cut only matters where lower() grows text
--   $2 address          text: the client address (auth/throttle.py)
--   $3 window_s         integer: LOGIN_WINDOW_S
--   $4 max_failures     integer: LOGIN_MAX_FAILURES (+ 1 for the caller's own row)
WITH by_email AS (
    SELECT at FROM login_failures
    WHERE email_normalized = left(lower($1), 320) AND at > now() - make_interval(secs => $3)
    ORDER BY at DESC
    OFFSET $4 - 1 LIMIT 1
), by_address AS (
    SELECT at FROM login_failures
    WHERE address = $2 AND at > now() - make_interval(secs => $3)
    ORDER BY at DESC
    OFFSET $4 - 1 LIMIT 1
)
SELECT CASE WHEN oldest IS NOT NULL
            THEN greatest(1, ceil(extract(epoch FROM oldest + make_interval(secs => $3) - now())))::integer
       END AS retry_after
FROM (SELECT greatest((SELECT at FROM by_email), (SELECT at FROM by_address)) AS oldest) AS counted;
