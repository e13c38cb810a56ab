-- Change the given fields of a post the caller may see; bump updated_at.
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin), $3 given text[],
--   $4 content text, $5 template_id text, $6 template_name text, $7 variant integer,
--   $8 word_count integer, $9 readability_score float8, $10 has_cta boolean, $11 status text,
--   $12 flags text[], $13 target_platform text, $14 run_id uuid
UPDATE posts
SET content           = CASE WHEN 'content' = ANY($3) THEN $4 ELSE content END,
    template_id       = CASE WHEN 'template_id' = ANY($3) THEN $5 ELSE template_id END,
    template_name     = CASE WHEN 'template_name' = ANY($3) THEN $6 ELSE template_name END,
    variant           = CASE WHEN 'variant' = ANY($3) THEN $7 ELSE variant END,
    word_count        = CASE WHEN 'word_count' = ANY($3) THEN $8 ELSE word_count END,
    readability_score = CASE WHEN 'readability_score' = ANY($3) THEN $9 ELSE readability_score END,
    has_cta           = CASE WHEN 'has_cta' = ANY($3) THEN $10 ELSE has_cta END,
    status            = CASE WHEN 'status' = ANY($3) THEN $11 ELSE status END,
    flags             = CASE WHEN 'flags' = ANY($3) THEN coalesce($12::text[], '{}') ELSE flags END,
    target_platform   = CASE WHEN 'target_platform' = ANY($3) THEN $13 ELSE target_platform END,
    run_id            = CASE WHEN 'run_id' = ANY($3) THEN $14 ELSE run_id END,
    updated_at        = clock_timestamp()
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2)
RETURNING id, project_id, run_id, content, template_id, template_name, variant, word_count,
          readability_score, has_cta, status, flags, target_platform, created_at, updated_at;
