-- The next chunks of a stored result, from a position (the download streams them a
-- few at a time).
-- Parameters:
--   $1 job_id uuid, $2 attempt integer, $3 from_seq integer, $4 limit integer
SELECT seq, data
FROM job_result_chunks
WHERE job_id = $1
  AND attempt = $2
  AND seq >= $3
ORDER BY seq
LIMIT $4;
