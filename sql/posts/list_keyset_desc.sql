-- Posts visible to the caller that come after a key in DESC order (keyset page).
-- The row comparison (created_at, id) < (key) is one range of the (created_at, id)
-- index (or of a filter-led composite), whatever the depth.
-- Parameters:
--   $1  owner_id        uuid:    the caller's id, or NULL for an admin (all rows)
--   $2  project_id      uuid:    or NULL
--   $3  run_id          uuid:    or NULL
--   $4  status          text:    approved | flagged, or NULL
--   $5  platform        text:    linkedin | twitter | facebook | blog, or NULL
--   $6  has_cta         boolean: or NULL
--   $7  template_name   text:    ILIKE pattern ('%x%', wildcards escaped), or NULL
--   $8  needs_review    boolean: true = has flags, false = none, or NULL
--   $9  search          text:    ILIKE pattern on content, or NULL
--   $10 min_word_count  integer: or NULL
--   $11 max_word_count  integer: or NULL
--   $12 min_readability float8:  or NULL
--   $13 max_readability float8:  or NULL
--   $14 key_created_at timestamptz: created_at of the last row seen
--   $15 key_id         uuid:        id of the last row seen (breaks created_at ties)
--   $16 limit          integer:     rows to return
-- Optional filters are ($n IS NULL OR ...): the pool plans every execution as a
-- custom plan (plan_cache_mode = force_custom_plan), which folds the NULL ones away.
SELECT id, project_id, run_id, content, template_id, template_name, variant, word_count,
       readability_score, has_cta, status, flags, target_platform, created_at, updated_at
FROM posts
WHERE ($1::uuid IS NULL OR posts.owner_id = $1)
  AND ($2::uuid IS NULL OR posts.project_id = $2)
  AND ($3::uuid IS NULL OR posts.run_id = $3)
  AND ($4::text IS NULL OR posts.status = $4)
  AND ($5::text IS NULL OR posts.target_platform = $5)
  AND ($6::boolean IS NULL OR posts.has_cta = $6)
  AND ($7::text IS NULL OR posts.template_name ILIKE $7)
  AND ($8::boolean IS NULL OR (cardinality(posts.flags) > 0) = $8)
  AND ($9::text IS NULL OR posts.content ILIKE $9)
  AND ($10::integer IS NULL OR posts.word_count >= $10)
  AND ($11::integer IS NULL OR posts.word_count <= $11)
  AND ($12::float8 IS NULL OR posts.readability_score >= $12)
  AND ($13::float8 IS NULL OR posts.readability_score <= $13)
  AND (posts.created_at, posts.id) < ($14::timestamptz, $15::uuid)
ORDER BY posts.created_at DESC, posts.id DESC
LIMIT $16;
