-- Create a project under a client; owner_id is the client's owner.
-- Parameters:
--   $1 owner_id uuid, $2 client_id uuid, $3 name text, $4 status text (NULL: draft),
--   $5 template_quantities jsonb (NULL: {}), $6 num_posts integer, $7 price_per_post numeric,
--   $8 research_price_per_post numeric, $9 total_price numeric, $10 platforms text[], $11 tone text
-- One clock reading stamps both created_at and updated_at (see clients/insert.sql).
WITH clock AS (SELECT clock_timestamp() AS at)
INSERT INTO projects (owner_id, client_id, name, status, template_quantities, num_posts,
                      price_per_post, research_price_per_post, total_price, platforms, tone,
                      created_at, updated_at)
VALUES ($1, $2, $3, coalesce($4, 'draft'), coalesce($5::jsonb, '{}'), $6, $7, $8, $9,
        coalesce($10::text[], '{}'), $11, (SELECT at FROM clock), (SELECT at FROM clock))
RETURNING id, client_id, name, status, template_quantities, num_posts, price_per_post,
          research_price_per_post, total_price, platforms, tone, created_at, updated_at;
