-- Record a login attempt as a failure before its password is hashed, and delete every
-- failure that has left the window (the expired rows are the head of the index on at:
-- each call removes only what expired since the previous one). The caller then counts
-- (retry_after.sql, with its own row included): the row is committed first, so of any
-- number of concurrent attempts for one email or from one address at most
-- LOGIN_MAX_FAILURES pass to the hash. A throttled attempt deletes its row
-- (withdraw.sql); a successful one deletes its email's rows, its own among them
-- (clear_email.sql); a failed one leaves it: the failure.
-- Parameters:
--   $1 email_normalized text: the login's email, NFKC and trimmed (auth/throttle.py);
--      the key is left(lower(it), 320): lower() as users_email_lower_key and the
--      login lookup compare emails; the cut only matters where lower() grows text
--   $2 address          text: the client address
--   $3 window_s         integer: LOGIN_WINDOW_S
WITH pruned AS (
    DELETE FROM login_failures
    WHERE at <= now() - make_interval(secs => $3)
)
INSERT INTO login_failures (email_normalized, address)
VALUES (left(lower($1), 320), $2)
RETURNING id;
