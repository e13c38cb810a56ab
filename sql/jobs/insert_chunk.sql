-- One chunk of a result being written by an attempt (in the transaction that marks
-- the job succeeded: a dead attempt leaves none).
-- Parameters:
--   $1 job_id uuid, $2 attempt integer, $3 seq integer, $4 data bytea
INSERT INTO job_result_chunks (job_id, attempt, seq, data)
VALUES ($1, $2, $3, $4);
