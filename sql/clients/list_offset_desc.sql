-- Clients visible to the caller, newest first: one page by LIMIT/OFFSET.
-- Used for the first pages (offset below OFFSET_THRESHOLD) and from either edge of a cursor walk.
-- Parameters:
--   $1 owner_id uuid: the caller's id, or NULL for an admin (all rows)
--   $2 search   text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $3 limit  integer: rows to return (page_size + 1, to know has_next)
--   $4 offset integer
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT id, name, email, business_description, ideal_customer, main_problem_solved,
       tone_preference, platforms, customer_pain_points, customer_questions,
       created_at, updated_at
FROM clients
WHERE ($1::uuid IS NULL OR clients.owner_id = $1)
  AND ($2::text IS NULL OR clients.name ILIKE $2)
ORDER BY clients.created_at DESC, clients.id DESC
LIMIT $3 OFFSET $4;
