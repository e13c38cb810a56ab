-- A page of a text search (search, template_name) and the exact number of matches, from
-- one trigram index scan: every match is read once (MATERIALIZED: planned for all its
-- rows, so by the trigram index, never by walking (created_at, id) in order), then counted
-- and sorted by its (created_at, id) alone, and the page taken by LIMIT/OFFSET; only the
-- page's rows are read whole (copying every match's columns through the sort cost 15 % of
-- the query at 1,111 matches, pgbench). Used when the word is rare: the planner expects
-- few matches, or the walk of text_walk_desc.sql did not fill the page. Page 1 (offset 0)
-- and every numbered page after it cost the same, at any depth, where the boundary probe
-- (boundary_desc.sql) tests ILIKE on every row it passes, or sorts the whole pattern's
-- candidates (1M posts, "roadmap signal" page 11: 1.0 s).
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
--   $14 search_index    text: the ILIKE pattern the trigram index is asked for: $9, or a
--                       part of its term without near-universal trigrams (service/store/trigrams.py)
--   $15 limit           integer: rows to return (page_size + 1, to know has_next)
--   $16 offset          bigint: matches before the page ((page - 1) * page_size; 0 for page 1)
-- Returns the page's rows, each with total (the number of matches); a page past the end
-- (or a search matching nothing) is one row of NULLs but total, so its metadata is exact.
-- The filters live in visible_posts() (migration 0011).
WITH matches AS MATERIALIZED (
    SELECT posts.id, posts.created_at
    FROM visible_posts($1, $2, $3, $4, $5, $6, $7,
                      $8, NULL, $10, $11, $12, $13) AS posts
    -- Every row holding the term holds the part: the index finds candidates by the part,
    -- the whole pattern is tested on each (IS TRUE keeps it out of the index condition).
    WHERE ($14::text IS NULL OR posts.content ILIKE $14)
      AND ($9::text IS NULL OR (posts.content ILIKE $9) IS TRUE)
),
page AS (
    SELECT matches.id, matches.created_at
    FROM matches
    ORDER BY matches.created_at DESC, matches.id DESC
    LIMIT $15 OFFSET $16
)
SELECT posts.id, posts.project_id, posts.run_id, posts.content, posts.template_id,
       posts.template_name, posts.variant, posts.word_count, posts.readability_score,
       posts.has_cta, posts.status, posts.flags, posts.target_platform, posts.created_at,
       posts.updated_at, total.total
FROM (SELECT count(*) AS total FROM matches) AS total
LEFT JOIN (page JOIN posts ON posts.id = page.id) ON true
ORDER BY page.created_at DESC, page.id DESC;
