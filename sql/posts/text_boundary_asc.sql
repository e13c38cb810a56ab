-- The key (created_at, id) of the match at a position of a text search's ASC list
-- (search, template_name), found by walking at most `walk` rows of the list without its
-- text filters, oldest first, each then tested with ILIKE (as text_walk_asc.sql does for
-- page 1). A common word reaches the position within the walk, and the page is then read
-- with keyset SQL (list_keyset_asc.sql); when it does not (no row: the word is sparser
-- there than the walk allows, or the list ends), the service reads the page from the
-- trigram index instead (text_matches_asc.sql). boundary_asc.sql has no such budget: it tests
-- every row it passes, up to the whole list ("post 1" at 1M posts, position 1,999: 800,000
-- rows, 1.5 s), or sorts every match (a page past the end of "growth": 415,000 rows, 1.5-3 s).
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
--   $14 walk     bigint: rows of the list to test at most
--   $15 position bigint: zero-based position of the match (page offset - 1)
-- The filters live in visible_posts() (migration 0011); the text filters are passed as
-- NULL inside and applied outside the LIMIT, so the walk stops after `walk` rows (or
-- as soon as the position is reached).
SELECT newest.created_at, newest.id
FROM (
    SELECT posts.created_at, posts.id, posts.template_name, posts.content
    FROM visible_posts($1, $2, $3, $4, $5, $6, NULL,
                      $8, NULL, $10, $11, $12, $13) AS posts
    ORDER BY posts.created_at ASC, posts.id ASC
    LIMIT $14
) AS newest
WHERE ($7::text IS NULL OR newest.template_name ILIKE $7)
  AND ($9::text IS NULL OR newest.content ILIKE $9)
ORDER BY newest.created_at ASC, newest.id ASC
OFFSET $15
LIMIT 1;
