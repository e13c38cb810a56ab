-- Projects visible to the caller, newest last: one page by LIMIT/OFFSET.
-- Used for the first pages (offset below OFFSET_THRESHOLD) and from either edge of a cursor walk.
-- Parameters:
--   $1 owner_id  uuid: the caller's id, or NULL for an admin (all rows)
--   $2 status    text: project status, or NULL
--   $3 client_id uuid: or NULL
--   $4 search    text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $5 limit  integer: rows to return (page_size + 1, to know has_next)
--   $6 offset integer
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT id, client_id, name, status, template_quantities, num_posts, price_per_post,
       research_price_per_post, total_price, platforms, tone, created_at, updated_at
FROM projects
WHERE ($1::uuid IS NULL OR projects.owner_id = $1)
  AND ($2::text IS NULL OR projects.status = $2)
  AND ($3::uuid IS NULL OR projects.client_id = $3)
  AND ($4::text IS NULL OR projects.name ILIKE $4)
ORDER BY projects.created_at ASC, projects.id ASC
LIMIT $5 OFFSET $6;
