-- The key (created_at, id) of the row at a position of the ASC list: the probe that
-- lets a deep page number be read with keyset SQL. It reads only index columns,
-- so it is an index-only scan when the visibility map is current.
-- Parameters:
--   $1 owner_id uuid: the caller's id, or NULL for an admin (all rows)
--   $2 search   text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $3 position integer: zero-based position of the row (page offset - 1)
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT clients.created_at, clients.id
FROM clients
WHERE ($1::uuid IS NULL OR clients.owner_id = $1)
  AND ($2::text IS NULL OR clients.name ILIKE $2)
ORDER BY clients.created_at ASC, clients.id ASC
OFFSET $3
LIMIT 1;
