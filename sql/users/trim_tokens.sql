-- Revoke a user's tokens but the newest ones (login, past MAX_TOKENS_PER_USER). The
-- delete NOTIFYs (migration 0010): every process drops its cached token lookups.
-- Parameters:
--   $1 user_id uuid
--   $2 keep    integer: how many of the newest to keep
DELETE FROM access_tokens
WHERE token_hash IN (
    SELECT token_hash
    FROM access_tokens
    WHERE user_id = $1
    ORDER BY created_at DESC, token_hash DESC
    OFFSET $2
);
