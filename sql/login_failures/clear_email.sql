-- A successful login forgets its email's failures (not its address's: one good
-- account must not reset the count of an address guessing others), the row its own
-- attempt recorded before hashing among them: a success never counts.
-- Parameters:
--   $1 email_normalized text: the login's email, NFKC and trimmed (auth/throttle.py);
--      the key is left(lower(it), 320): lower() as users_email_lower_key and the
--      login lookup compare emails; the cut only matters where lower() grows text
DELETE FROM login_failures
WHERE email_normalized = left(lower($1), 320);
