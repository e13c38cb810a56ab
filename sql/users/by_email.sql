-- A user's id by email (any case).
-- Parameters:
--   $1 email text
SELECT id
FROM users
WHERE lower(email) = lower($1);
