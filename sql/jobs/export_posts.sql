-- The posts of one export, read through a server-side cursor: the cursor keeps the
-- snapshot of its opening for its whole life, so the file is one consistent view.
-- Parameters:
--   $1 project_id uuid, $2 status text (or NULL), $3 platform text (or NULL)
SELECT id, project_id, run_id, content, template_id, template_name, variant, word_count,
       readability_score, has_cta, status, flags, target_platform, created_at, updated_at
FROM posts
WHERE project_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR target_platform = $3)
ORDER BY created_at, id;
