-- Create a user; a duplicate email (any case) raises unique_violation.
-- Parameters:
--   $1 email         text
--   $2 password_hash text: $argon2id$... (older rows: scrypt$n$r$p$salt$hash)
--   $3 full_name     text (or NULL)
--   $4 is_admin      boolean
INSERT INTO users (email, password_hash, full_name, is_admin)
VALUES ($1, $2, $3, $4)
RETURNING id, email, full_name, is_admin, created_at;
