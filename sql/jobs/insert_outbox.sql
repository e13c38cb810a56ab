-- Keep an email that was not sent (no SMTP_URL): once per job, however often it runs.
-- Parameters:
--   $1 job_id uuid, $2 to_address text, $3 subject text, $4 body text
INSERT INTO email_outbox (job_id, to_address, subject, body)
VALUES ($1, $2, $3, $4)
ON CONFLICT (job_id) DO NOTHING
RETURNING id;
