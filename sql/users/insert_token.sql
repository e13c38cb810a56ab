-- Store a new access token (as its hash) valid for a number of hours; its expiry, and
-- how many tokens the user holds with it (login revokes the oldest beyond a bound,
-- trim_tokens.sql). The count cannot see the row this statement inserts: + 1.
-- Parameters:
--   $1 token_hash bytea
--   $2 user_id    uuid
--   $3 ttl_hours  integer
WITH inserted AS (
    INSERT INTO access_tokens (token_hash, user_id, expires_at)
    VALUES ($1, $2, now() + make_interval(hours => $3))
    RETURNING expires_at
)
SELECT inserted.expires_at,
       (SELECT count(*) FROM access_tokens WHERE user_id = $2) + 1 AS tokens
FROM inserted;
