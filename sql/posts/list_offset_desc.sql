-- Posts visible to the caller, newest first: one page by LIMIT/OFFSET.
-- Used for the first pages (offset below OFFSET_THRESHOLD) and from either edge of a cursor walk.
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
--   $14 limit  integer: rows to return (page_size + 1, to know has_next)
--   $15 offset integer
-- The filters live in visible_posts() (migration 0011), shared by every query of this list.
-- The page's keys first, then its rows: the subquery needs only columns that the
-- filter-covering indexes hold (migrations 0090, 0091), so the planner can find the
-- keys by an index-only scan, testing a filter on index entries rather than on table
-- rows (a project's 10,000 posts of which none matches: 1.5 ms instead of 8-44 ms), or
-- sort a rare range's few keys from its own index; only the page's rows are then read,
-- by primary key. The nested loop keeps the subquery's order: no second sort.
SELECT p.id, p.project_id, p.run_id, p.content, p.template_id, p.template_name, p.variant, p.word_count,
       p.readability_score, p.has_cta, p.status, p.flags, p.target_platform, p.created_at, p.updated_at
FROM (
    SELECT posts.created_at, posts.id
    FROM visible_posts($1, $2, $3, $4, $5, $6, $7,
                      $8, $9, $10, $11, $12, $13) AS posts
    ORDER BY posts.created_at DESC, posts.id DESC
    LIMIT $14 OFFSET $15
) AS page
JOIN posts AS p ON p.id = page.id
ORDER BY page.created_at DESC, page.id DESC;
