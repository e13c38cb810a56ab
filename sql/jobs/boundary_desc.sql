-- The key (created_at, id) of the row at a position of the DESC list (deep page numbers).
-- Parameters:
--   $1  owner_id uuid: the caller's id, or NULL for an admin (all jobs, the service's own included)
--   $2  status   text: or NULL
--   $3  kind     text: or NULL
--   $4  position integer: zero-based position of the row (page offset - 1)
-- The filters live in visible_jobs() (migration 0020), shared by every query of this list.
SELECT jobs.created_at, jobs.id
FROM visible_jobs($1, $2, $3) AS jobs
ORDER BY jobs.created_at DESC, jobs.id DESC
OFFSET $4
LIMIT 1;
