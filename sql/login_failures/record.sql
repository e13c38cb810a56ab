-- Record a failed login, and delete every failure that has left the window (the
-- expired rows are the head of the index on at: each call removes only what expired
-- since the previous one).
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
VALUES (left(lower($1), 320), $2);
