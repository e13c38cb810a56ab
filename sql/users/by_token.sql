-- The user behind a live access token, and when the token expires.
-- Parameters:
--   $1 token_hash bytea: SHA-256 of the bearer token
SELECT users.id, users.email, users.full_name, users.is_admin, users.created_at,
       access_tokens.expires_at
FROM access_tokens
JOIN users ON users.id = access_tokens.user_id
WHERE access_tokens.token_hash = $1
  AND access_tokens.expires_at > now();
