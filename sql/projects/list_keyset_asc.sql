-- Projects visible to the caller that come after a key in ASC order (keyset page).
-- The row comparison (created_at, id) > (key) is one range of the (created_at, id)
-- index (or of a filter-led composite), whatever the depth.
-- Parameters:
--   $1 owner_id  uuid: the caller's id, or NULL for an admin (all rows)
--   $2 status    text: project status, or NULL
--   $3 client_id uuid: or NULL
--   $4 search    text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $5 key_created_at timestamptz: created_at of the last row seen
--   $6 key_id         uuid:        id of the last row seen (breaks created_at ties)
--   $7 limit          integer:     rows to return
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT id, client_id, name, status, template_quantities, num_posts, price_per_post,
       research_price_per_post, total_price, platforms, tone, created_at, updated_at
FROM projects
WHERE ($1::uuid IS NULL OR projects.owner_id = $1)
  AND ($2::text IS NULL OR projects.status = $2)
  AND ($3::uuid IS NULL OR projects.client_id = $3)
  AND ($4::text IS NULL OR projects.name ILIKE $4)
  AND (projects.created_at, projects.id) > ($5::timestamptz, $6::uuid)
ORDER BY projects.created_at ASC, projects.id ASC
LIMIT $7;
