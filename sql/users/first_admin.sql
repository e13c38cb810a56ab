-- The oldest admin, who owns seeded data when no owner is named.
-- Parameters: none
SELECT id, email
FROM users
WHERE is_admin
ORDER BY created_at, id
LIMIT 1;
