-- One client, if the caller may see it.
-- Parameters:
--   $1 id       uuid
--   $2 owner_id uuid: the caller's id, or NULL for an admin
SELECT id, name, email, business_description, ideal_customer, main_problem_solved,
       tone_preference, platforms, customer_pain_points, customer_questions,
       created_at, updated_at
FROM clients
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2);
