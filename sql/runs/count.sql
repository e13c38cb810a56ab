-- How many runs the caller sees with these filters, counting at most a cap of rows:
-- exact for small lists; past the cap the service reports the planner's estimate
-- of this query instead (metadata.total_is_estimate), so a list never counts a
-- million rows per request.
-- Parameters:
--   $1 owner_id   uuid: the caller's id, or NULL for an admin (all rows)
--   $2 project_id uuid: or NULL
--   $3 cap integer: stop counting after this many rows
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT count(*)
FROM (
    SELECT 1
    FROM runs
    WHERE ($1::uuid IS NULL OR runs.owner_id = $1)
  AND ($2::uuid IS NULL OR runs.project_id = $2)
    LIMIT $3
) AS capped;
