-- How many clients the caller sees with these filters, counting at most a cap of rows:
-- exact for small lists; past the cap the service reports the planner's estimate
-- of this query instead (metadata.total_is_estimate), so a list never counts a
-- million rows per request.
-- Parameters:
--   $1  owner_id uuid: the caller's id, or NULL for an admin (all rows)
--   $2  search   text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $3  cap integer: stop counting after this many rows
-- The filters live in visible_clients() (migration 0011), shared by every query of this list.
SELECT count(*)
FROM (
    SELECT 1
    FROM visible_clients($1, $2) AS clients
    LIMIT $3
) AS capped;
