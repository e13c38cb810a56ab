-- Housekeeping: drop tokens past their expiry (run at start-up).
-- Parameters: none
DELETE FROM access_tokens
WHERE expires_at <= now();
