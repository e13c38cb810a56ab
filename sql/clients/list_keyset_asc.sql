-- Clients visible to the caller that come after a key in ASC order (keyset page).
-- The row comparison (created_at, id) > (key) is one range of the (created_at, id)
-- index (or of a filter-led composite), whatever the depth.
-- Parameters:
--   $1 owner_id uuid: the caller's id, or NULL for an admin (all rows)
--   $2 search   text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $3 key_created_at timestamptz: created_at of the last row seen
--   $4 key_id         uuid:        id of the last row seen (breaks created_at ties)
--   $5 limit          integer:     rows to return
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT id, name, email, business_description, ideal_customer, main_problem_solved,
       tone_preference, platforms, customer_pain_points, customer_questions,
       created_at, updated_at
FROM clients
WHERE ($1::uuid IS NULL OR clients.owner_id = $1)
  AND ($2::text IS NULL OR clients.name ILIKE $2)
  AND (clients.created_at, clients.id) > ($3::timestamptz, $4::uuid)
ORDER BY clients.created_at ASC, clients.id ASC
LIMIT $5;
