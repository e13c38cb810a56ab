-- Log out: the token stops working at once.
-- Parameters:
--   $1 token_hash bytea
DELETE FROM access_tokens
WHERE token_hash = $1;
