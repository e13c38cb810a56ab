-- Projects visible to the caller that come after a key in ASC order (keyset page).
-- The row comparison (created_at, id) > (key) is one range of the (created_at, id)
-- index (or of a filter-led composite), whatever the depth.
-- Parameters:
--   $1  owner_id  uuid: the caller's id, or NULL for an admin (all rows)
--   $2  status    text: project status, or NULL
--   $3  client_id uuid: or NULL
--   $4  search    text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $5  key_created_at timestamptz: created_at of the last row seen
--   $6  key_id         uuid:        id of the last row seen (breaks created_at ties)
--   $7  limit          integer:     rows to return
-- The filters live in visible_projects() (migration 0011), shared by every query of this list.
SELECT id, client_id, name, status, template_quantities, num_posts, price_per_post,
       research_price_per_post, total_price, platforms, tone, created_at, updated_at
FROM visible_projects($1, $2, $3, $4) AS projects
WHERE (projects.created_at, projects.id) > ($5::timestamptz, $6::uuid)
ORDER BY projects.created_at ASC, projects.id ASC
LIMIT $7;
