-- A successful login forgets its email's failures (not its address's: one good
-- account must not reset the count of an address guessing others).
-- Parameters:
--   $1 email_normalized text: lower-cased, trimmed
DELETE FROM login_failures
WHERE email_normalized = $1;
