-- Posts visible to the caller that come after a key in ASC order (keyset page).
-- The row comparison (created_at, id) > (key) is one range of the (created_at, id)
-- index (or of a filter-led composite), whatever the depth.
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
--   $14 key_created_at timestamptz: created_at of the last row seen
--   $15 key_id         uuid:        id of the last row seen (breaks created_at ties)
--   $16 limit          integer:     rows to return
-- The filters live in visible_posts() (migration 0011), shared by every query of this list.
SELECT id, project_id, run_id, content, template_id, template_name, variant, word_count,
       readability_score, has_cta, status, flags, target_platform, created_at, updated_at
FROM visible_posts($1, $2, $3, $4, $5, $6, $7,
                  $8, $9, $10, $11, $12, $13) AS posts
WHERE (posts.created_at, posts.id) > ($14::timestamptz, $15::uuid)
ORDER BY posts.created_at ASC, posts.id ASC
LIMIT $16;
