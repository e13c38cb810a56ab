-- Create a client owned by a user.
-- Parameters:
--   $1 owner_id uuid, $2 name text, $3 email text, $4 business_description text,
--   $5 ideal_customer text, $6 main_problem_solved text, $7 tone_preference text,
--   $8 platforms text[], $9 customer_pain_points text[], $10 customer_questions text[]
-- One clock reading stamps both created_at and updated_at: two column defaults would read
-- the clock twice and could differ by a microsecond.
WITH clock AS (SELECT clock_timestamp() AS at)
INSERT INTO clients (owner_id, name, email, business_description, ideal_customer,
                     main_problem_solved, tone_preference, platforms,
                     customer_pain_points, customer_questions, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7,
        coalesce($8::text[], '{}'), coalesce($9::text[], '{}'), coalesce($10::text[], '{}'),
        (SELECT at FROM clock), (SELECT at FROM clock))
RETURNING id, name, email, business_description, ideal_customer, main_problem_solved,
          tone_preference, platforms, customer_pain_points, customer_questions,
          created_at, updated_at;
