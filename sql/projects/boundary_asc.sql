-- The key (created_at, id) of the row at a position of the ASC list: the probe that
-- lets a deep page number be read with keyset SQL. It reads only index columns,
-- so it is an index-only scan when the visibility map is current.
-- Parameters:
--   $1 owner_id  uuid: the caller's id, or NULL for an admin (all rows)
--   $2 status    text: project status, or NULL
--   $3 client_id uuid: or NULL
--   $4 search    text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $5 position integer: zero-based position of the row (page offset - 1)
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT projects.created_at, projects.id
FROM projects
WHERE ($1::uuid IS NULL OR projects.owner_id = $1)
  AND ($2::text IS NULL OR projects.status = $2)
  AND ($3::uuid IS NULL OR projects.client_id = $3)
  AND ($4::text IS NULL OR projects.name ILIKE $4)
ORDER BY projects.created_at ASC, projects.id ASC
OFFSET $5
LIMIT 1;
