-- Record a registration attempt before its password is hashed, and delete every attempt
-- that has left the window (the head of the index on at). The caller then counts
-- (retry_after.sql): the attempt is committed first, so of any number of concurrent
-- attempts at most max_attempts pass.
-- Parameters:
--   $1 address  text: the client address (auth/throttle.py)
--   $2 window_s integer: REGISTER_WINDOW_S
WITH pruned AS (
    DELETE FROM register_attempts
    WHERE at <= now() - make_interval(secs => $2)
)
INSERT INTO register_attempts (address)
VALUES ($1)
RETURNING id;
