-- Re-hash on login: replace a user's password hash (an older scheme) with a new one,
-- unless it changed meanwhile. Returns the id when replaced.
-- Parameters:
--   $1 user_id  uuid
--   $2 old_hash text: the hash that was just verified
--   $3 new_hash text: $argon2id$...
UPDATE users
SET password_hash = $3, updated_at = now()
WHERE id = $1 AND password_hash = $2
RETURNING id;
