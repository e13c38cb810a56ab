-- A job's result, once: a second attempt to store one changes nothing.
-- Parameters:
--   $1 job_id uuid, $2 attempt integer, $3 content_type text, $4 filename text, $5 bytes bigint,
--   $6 rows bigint, $7 sha256 text
INSERT INTO job_results (job_id, attempt, content_type, filename, bytes, rows, sha256)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (job_id) DO NOTHING
RETURNING job_id;
