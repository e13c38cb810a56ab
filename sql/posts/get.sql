-- One post, if the caller may see it.
-- Parameters:
--   $1 id uuid, $2 owner_id uuid (NULL for an admin)
SELECT id, project_id, run_id, content, template_id, template_name, variant, word_count,
       readability_score, has_cta, status, flags, target_platform, created_at, updated_at
FROM posts
WHERE id = $1
  AND ($2::uuid IS NULL OR owner_id = $2);
