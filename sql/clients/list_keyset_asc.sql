-- Clients visible to the caller that come after a key in ASC order (keyset page).
-- The row comparison (created_at, id) > (key) is one range of the (created_at, id)
-- index (or of a filter-led composite), whatever the depth.
-- Parameters:
--   $1  owner_id uuid: the caller's id, or NULL for an admin (all rows)
--   $2  search   text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $3  key_created_at timestamptz: created_at of the last row seen
--   $4  key_id         uuid:        id of the last row seen (breaks created_at ties)
--   $5  limit          integer:     rows to return
-- The filters live in visible_clients() (migration 0011), shared by every query of this list.
SELECT id, name, email, business_description, ideal_customer, main_problem_solved,
       tone_preference, platforms, customer_pain_points, customer_questions,
       created_at, updated_at
FROM visible_clients($1, $2) AS clients
WHERE (clients.created_at, clients.id) > ($3::timestamptz, $4::uuid)
ORDER BY clients.created_at ASC, clients.id ASC
LIMIT $5;
