-- The key (created_at, id) of the row at a position of the DESC list: the probe that
-- lets a deep page number be read with keyset SQL. It reads only index columns,
-- so it is an index-only scan when the visibility map is current.
-- Parameters:
--   $1  owner_id  uuid: the caller's id, or NULL for an admin (all rows)
--   $2  status    text: project status, or NULL
--   $3  client_id uuid: or NULL
--   $4  search    text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $5  position integer: zero-based position of the row (page offset - 1)
-- The filters live in visible_projects() (migration 0011), shared by every query of this list.
SELECT projects.created_at, projects.id
FROM visible_projects($1, $2, $3, $4) AS projects
ORDER BY projects.created_at DESC, projects.id DESC
OFFSET $5
LIMIT 1;
