-- The user with this email (any case) and their password hash, for login.
-- Parameters:
--   $1 email text
SELECT id, email, full_name, is_admin, created_at, password_hash
FROM users
WHERE lower(email) = lower($1);
