-- How many posts the caller sees with these filters, counting at most a cap of rows:
-- exact for small lists; past the cap the service reports the planner's estimate
-- of this query instead (metadata.total_is_estimate), so a list never counts a
-- million rows per request.
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
--   $14 cap integer: stop counting after this many rows
-- The filters live in visible_posts() (migration 0011), shared by every query of this list.
SELECT count(*)
FROM (
    SELECT 1
    FROM visible_posts($1, $2, $3, $4, $5, $6, $7,
                  $8, $9, $10, $11, $12, $13) AS posts
    LIMIT $14
) AS capped;
