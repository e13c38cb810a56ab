-- Change the given fields of a client the caller may see; bump updated_at.
-- A field changes only when its name is in $3 (so NULL can be set on purpose).
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin), $3 given text[]: names of the fields given,
--   $4 name, $5 email, $6 business_description, $7 ideal_customer, $8 main_problem_solved,
--   $9 tone_preference (text), $10 platforms, $11 customer_pain_points, $12 customer_questions (text[])
UPDATE clients
SET name                 = CASE WHEN 'name' = ANY($3) THEN $4 ELSE name END,
    email                = CASE WHEN 'email' = ANY($3) THEN $5 ELSE email END,
    business_description = CASE WHEN 'business_description' = ANY($3) THEN $6 ELSE business_description END,
    ideal_customer       = CASE WHEN 'ideal_customer' = ANY($3) THEN $7 ELSE ideal_customer END,
    main_problem_solved  = CASE WHEN 'main_problem_solved' = ANY($3) THEN $8 ELSE main_problem_solved END,
    tone_preference      = CASE WHEN 'tone_preference' = ANY($3) THEN $9 ELSE tone_preference END,
    platforms            = CASE WHEN 'platforms' = ANY($3) THEN coalesce($10::text[], '{}') ELSE platforms END,
    customer_pain_points = CASE WHEN 'customer_pain_points' = ANY($3) THEN coalesce($11::text[], '{}')
                                ELSE customer_pain_points END,
    customer_questions   = CASE WHEN 'customer_questions' = ANY($3) THEN coalesce($12::text[], '{}')
                                ELSE customer_questions END,
    updated_at           = clock_timestamp()
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2)
RETURNING id, name, email, business_description, ideal_customer, main_problem_solved,
          tone_preference, platforms, customer_pain_points, customer_questions,
          created_at, updated_at;
