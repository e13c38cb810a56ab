-- Store a new access token (as its hash) valid for a number of hours.
-- Parameters:
--   $1 token_hash bytea
--   $2 user_id    uuid
--   $3 ttl_hours  integer
INSERT INTO access_tokens (token_hash, user_id, expires_at)
VALUES ($1, $2, now() + make_interval(hours => $3))
RETURNING expires_at;
