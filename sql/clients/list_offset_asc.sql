-- Clients visible to the caller, oldest first: one page by LIMIT/OFFSET.
-- Used for the first pages (offset below OFFSET_THRESHOLD) and from either edge of a cursor walk.
-- Parameters:
--   $1  owner_id uuid: the caller's id, or NULL for an admin (all rows)
--   $2  search   text: ILIKE pattern on name ('%x%', wildcards escaped), or NULL
--   $3  limit  integer: rows to return (page_size + 1, to know has_next)
--   $4  offset integer
-- The filters live in visible_clients() (migration 0011), shared by every query of this list.
SELECT id, name, email, business_description, ideal_customer, main_problem_solved,
       tone_preference, platforms, customer_pain_points, customer_questions,
       created_at, updated_at
FROM visible_clients($1, $2) AS clients
ORDER BY clients.created_at ASC, clients.id ASC
LIMIT $3 OFFSET $4;
