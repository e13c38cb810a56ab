-- The key (created_at, id) of the row at a position of the ASC list: the probe that
-- lets a deep page number be read with keyset SQL. It reads only index columns,
-- so it is an index-only scan when the visibility map is current.
-- Parameters:
--   $1 owner_id   uuid: the caller's id, or NULL for an admin (all rows)
--   $2 project_id uuid: or NULL
--   $3 position integer: zero-based position of the row (page offset - 1)
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT runs.created_at, runs.id
FROM runs
WHERE ($1::uuid IS NULL OR runs.owner_id = $1)
  AND ($2::uuid IS NULL OR runs.project_id = $2)
ORDER BY runs.created_at ASC, runs.id ASC
OFFSET $3
LIMIT 1;
