-- Projects visible to the caller, newest first: one page by LIMIT/OFFSET.
-- Used for the first pages (offset below OFFSET_THRESHOLD) and from either edge of a cursor walk.
-- Parameters:
--   $1  owner_id  uuid: the caller's id, or NULL for an admin (all rows)
--   $2  status    text: project status, or NULL
--   $3  client_id uuid: or NULL
--   $4  search    text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $5  limit  integer: rows to return (page_size + 1, to know has_next)
--   $6  offset integer
-- The filters live in visible_projects() (migration 0011), shared by every query of this list.
SELECT id, client_id, name, status, template_quantities, num_posts, price_per_post,
       research_price_per_post, total_price, platforms, tone, created_at, updated_at
FROM visible_projects($1, $2, $3, $4) AS projects
ORDER BY projects.created_at DESC, projects.id DESC
LIMIT $5 OFFSET $6;
