-- How many jobs the caller sees with these filters, counting at most a cap of rows.
-- Parameters:
--   $1  owner_id uuid: the caller's id, or NULL for an admin (all jobs, the service's own included)
--   $2  status   text: or NULL
--   $3  kind     text: or NULL
--   $4  cap integer: stop counting after this many rows
-- The filters live in visible_jobs() (migration 0020), shared by every query of this list.
SELECT count(*)
FROM (
    SELECT 1
    FROM visible_jobs($1, $2, $3) AS jobs
    LIMIT $4
) AS capped;
