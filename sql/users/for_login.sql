-- The user with this email (any case) and their password hash, for login. "Any case" is
-- this lower(), the expression of the unique index users_email_lower_key: never lowered
-- in Python first (str.lower() differs: 'İ' makes two characters, a final 'Σ' makes 'ς').
-- Parameters:
--   $1 email text: NFKC-normalised and trimmed, as register stores it
SELECT id, email, full_name, is_admin, created_at, password_hash
FROM users
WHERE lower(email) = lower($1);
