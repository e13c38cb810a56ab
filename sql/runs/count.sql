-- How many runs the caller sees with these filters, counting at most a cap of rows:
-- exact for small lists; past the cap the service reports the planner's estimate
-- of this query instead (metadata.total_is_estimate), so a list never counts a
-- million rows per request.
-- Parameters:
--   $1  owner_id   uuid: the caller's id, or NULL for an admin (all rows)
--   $2  project_id uuid: or NULL
--   $3  cap integer: stop counting after this many rows
-- The filters live in visible_runs() (migration 0011), shared by every query of this list.
SELECT count(*)
FROM (
    SELECT 1
    FROM visible_runs($1, $2) AS runs
    LIMIT $3
) AS capped;
