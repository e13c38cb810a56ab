-- Create many posts in one statement (bulk POST /api/posts), in the order given.
-- Parameters: parallel arrays, one element per post:
--   $1 owner_id uuid[], $2 project_id uuid[], $3 run_id uuid[], $4 content text[],
--   $5 template_id text[], $6 template_name text[], $7 variant integer[], $8 word_count integer[],
--   $9 readability_score float8[], $10 has_cta boolean[], $11 status text[],
--   $12 flags text (JSON arrays, one per post), $13 target_platform text[]
-- Each post reads the clock once for both created_at and updated_at (two column defaults
-- would read it twice); in the order given, so later posts get later times.
INSERT INTO posts (owner_id, project_id, run_id, content, template_id, template_name, variant,
                   word_count, readability_score, has_cta, status, flags, target_platform,
                   created_at, updated_at)
SELECT owner_id, project_id, run_id, content, template_id, template_name, variant,
       word_count, readability_score, has_cta, status,
       ARRAY(SELECT jsonb_array_elements_text(flags::jsonb)), target_platform, at, at
FROM (SELECT item.*, clock_timestamp() AS at
      FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                  $7::integer[], $8::integer[], $9::float8[], $10::boolean[], $11::text[],
                  $12::text[], $13::text[])
           WITH ORDINALITY AS item (owner_id, project_id, run_id, content, template_id,
                                    template_name, variant, word_count, readability_score,
                                    has_cta, status, flags, target_platform, position)
      ORDER BY position) AS item
ORDER BY position
RETURNING id, project_id, run_id, content, template_id, template_name, variant, word_count,
          readability_score, has_cta, status, flags, target_platform, created_at, updated_at;
