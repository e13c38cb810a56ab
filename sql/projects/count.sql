-- How many projects the caller sees with these filters, counting at most a cap of rows:
-- exact for small lists; past the cap the service reports the planner's estimate
-- of this query instead (metadata.total_is_estimate), so a list never counts a
-- million rows per request.
-- Parameters:
--   $1 owner_id  uuid: the caller's id, or NULL for an admin (all rows)
--   $2 status    text: project status, or NULL
--   $3 client_id uuid: or NULL
--   $4 search    text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $5 cap integer: stop counting after this many rows
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT count(*)
FROM (
    SELECT 1
    FROM projects
    WHERE ($1::uuid IS NULL OR projects.owner_id = $1)
  AND ($2::text IS NULL OR projects.status = $2)
  AND ($3::uuid IS NULL OR projects.client_id = $3)
  AND ($4::text IS NULL OR projects.name ILIKE $4)
    LIMIT $5
) AS capped;
