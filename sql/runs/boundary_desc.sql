-- The key (created_at, id) of the row at a position of the DESC list: the probe that
-- lets a deep page number be read with keyset SQL. It reads only index columns,
-- so it is an index-only scan when the visibility map is current.
-- Parameters:
--   $1  owner_id   uuid: the caller's id, or NULL for an admin (all rows)
--   $2  project_id uuid: or NULL
--   $3  position integer: zero-based position of the row (page offset - 1)
-- The filters live in visible_runs() (migration 0011), shared by every query of this list.
SELECT runs.created_at, runs.id
FROM visible_runs($1, $2) AS runs
ORDER BY runs.created_at DESC, runs.id DESC
OFFSET $3
LIMIT 1;
