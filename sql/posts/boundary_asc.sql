-- The key (created_at, id) of the row at a position of the ASC list: the probe that
-- lets a deep page number be read with keyset SQL. It reads only index columns,
-- so it is an index-only scan when the visibility map is current.
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
--   $14 position integer: zero-based position of the row (page offset - 1)
-- The filters live in visible_posts() (migration 0011), shared by every query of this list.
SELECT posts.created_at, posts.id
FROM visible_posts($1, $2, $3, $4, $5, $6, $7,
                  $8, $9, $10, $11, $12, $13) AS posts
ORDER BY posts.created_at ASC, posts.id ASC
OFFSET $14
LIMIT 1;
