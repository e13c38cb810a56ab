-- How many clients the caller sees with these filters, counting at most a cap of rows:
-- exact for small lists; past the cap the service reports the planner's estimate
-- of this query instead (metadata.total_is_estimate), so a list never counts a
-- million rows per request.
-- Parameters:
--   $1 owner_id uuid: the caller's id, or NULL for an admin (all rows)
--   $2 search   text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $3 cap integer: stop counting after this many rows
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT count(*)
FROM (
    SELECT 1
    FROM clients
    WHERE ($1::uuid IS NULL OR clients.owner_id = $1)
  AND ($2::text IS NULL OR clients.name ILIKE $2)
    LIMIT $3
) AS capped;
