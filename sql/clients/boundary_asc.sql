-- The key (created_at, id) of the row at a position of the ASC list: the probe that
-- lets a deep page number be read with keyset SQL. It reads only index columns,
-- so it is an index-only scan when the visibility map is current.
-- Parameters:
--   $1  owner_id uuid: the caller's id, or NULL for an admin (all rows)
--   $2  search   text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $3  position integer: zero-based position of the row (page offset - 1)
-- The filters live in visible_clients() (migration 0011), shared by every query of this list.
SELECT clients.created_at, clients.id
FROM visible_clients($1, $2) AS clients
ORDER BY clients.created_at ASC, clients.id ASC
OFFSET $3
LIMIT 1;
