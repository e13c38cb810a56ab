-- Page 1 of a text search (search, template_name) read by walking the list in order:
-- at most `walk` rows of the list without its text filters, oldest first, each then tested
-- with ILIKE. A word found often (say in 2 % of the rows) fills the page within the
-- walk; when it does not, the service reads the page from the trigram index instead
-- (text_matches_asc.sql), so a rare word never walks the whole list, whatever the
-- planner estimates for it (a plain ORDER BY ... LIMIT query may walk 200,000 rows
-- when ANALYZE's sample happens to hold a match).
-- Parameters:
--   $1  owner_id        uuid: the caller's id, or NULL for an admin (all rows)
--   $2  project_id      uuid: or NULL
--   $3  run_id          uuid: or NULL
--   $4  status          text: approved | flagged, or NULL
--   $5  platform        text: linkedin | twitter | facebook | blog, or NULL
--   $6  has_cta         boolean: or NULL
--   $7  template_name   text: ILIKE pattern ('%x%', wildcards escaped), or NULL
--   $8  needs_review    boolean: true = has flags, false = none, or NULL
--   $9  search          text: ILIKE pattern on content, or NULL
--   $10 min_word_count  integer: or NULL
--   $11 max_word_count  integer: or NULL
--   $12 min_readability float8: or NULL
--   $13 max_readability float8: or NULL
--   $14 walk   integer: rows of the list to test at most
--   $15 limit  integer: rows to return (page_size + 1, to know has_next)
-- The filters live in visible_posts() (migration 0011); the text filters are passed as
-- NULL inside and applied outside the LIMIT, so the walk stops after `walk` rows.
SELECT id, project_id, run_id, content, template_id, template_name, variant, word_count,
       readability_score, has_cta, status, flags, target_platform, created_at, updated_at
FROM (
    SELECT *
    FROM visible_posts($1, $2, $3, $4, $5, $6, NULL,
                      $8, NULL, $10, $11, $12, $13) AS posts
    ORDER BY posts.created_at ASC, posts.id ASC
    LIMIT $14
) AS oldest
WHERE ($7::text IS NULL OR oldest.template_name ILIKE $7)
  AND ($9::text IS NULL OR oldest.content ILIKE $9)
ORDER BY oldest.created_at ASC, oldest.id ASC
LIMIT $15;
