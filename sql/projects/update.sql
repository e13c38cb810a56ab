-- Change the given fields of a project the caller may see; bump updated_at.
-- A field changes only when its name is in $3. A new client_id must belong to the
-- project's owner (the handler checks it first).
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin), $3 given text[],
--   $4 client_id uuid, $5 name text, $6 status text, $7 template_quantities jsonb,
--   $8 num_posts integer, $9 price_per_post numeric, $10 research_price_per_post numeric,
--   $11 total_price numeric, $12 platforms text[], $13 tone text
UPDATE projects
SET client_id               = CASE WHEN 'client_id' = ANY($3) THEN $4 ELSE client_id END,
    name                    = CASE WHEN 'name' = ANY($3) THEN $5 ELSE name END,
    status                  = CASE WHEN 'status' = ANY($3) THEN $6 ELSE status END,
    template_quantities     = CASE WHEN 'template_quantities' = ANY($3) THEN coalesce($7::jsonb, '{}')
                                   ELSE template_quantities END,
    num_posts               = CASE WHEN 'num_posts' = ANY($3) THEN $8 ELSE num_posts END,
    price_per_post          = CASE WHEN 'price_per_post' = ANY($3) THEN $9 ELSE price_per_post END,
    research_price_per_post = CASE WHEN 'research_price_per_post' = ANY($3) THEN $10
                                   ELSE research_price_per_post END,
    total_price             = CASE WHEN 'total_price' = ANY($3) THEN $11 ELSE total_price END,
    platforms               = CASE WHEN 'platforms' = ANY($3) THEN coalesce($12::text[], '{}') ELSE platforms END,
    tone                    = CASE WHEN 'tone' = ANY($3) THEN $13 ELSE tone END,
    updated_at              = clock_timestamp()
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2)
RETURNING id;
