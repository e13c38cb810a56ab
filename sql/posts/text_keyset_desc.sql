-- A cursor page of a search whose term is rare (service/store/trigrams.py
-- rare_search_index_pattern): the posts matching it that come after a key in DESC
-- order (below it), found by the trigram index rather than by walking (created_at, id)
-- and testing ILIKE on every row, which for "post 777" at 1M posts reads ~900 rows per
-- match (about 30 ms a page). As in text_matches_desc.sql the index is asked for search_index (the
-- term's uncommon part) and the whole pattern (search) is tested on each candidate, so the
-- rows are exactly the ILIKE's; the matches (a few thousand at most for a rare term) are
-- read once and serve both the page and `behind`: whether any match lies on the other
-- side of the key (the key's own row included), i.e. before the page's first row.
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
--   $15 key_created_at  timestamptz: created_at of the last row seen
--   $16 key_id          uuid: id of the last row seen (breaks created_at ties)
--   $17 limit           integer: rows to return
-- Returns the page's rows, each with behind; an empty page is one row of NULLs but behind.
-- The filters live in visible_posts() (migration 0011).
WITH matches AS MATERIALIZED (
    SELECT *
    FROM visible_posts($1, $2, $3, $4, $5, $6, $7,
                      $8, NULL, $10, $11, $12, $13) AS posts
    -- Candidates by the part, the whole pattern tested on each (IS TRUE keeps it out of
    -- the index condition).
    WHERE ($14::text IS NULL OR posts.content ILIKE $14)
      AND ($9::text IS NULL OR (posts.content ILIKE $9) IS TRUE)
), page AS (
    SELECT *
    FROM matches
    WHERE (matches.created_at, matches.id) < ($15::timestamptz, $16::uuid)
    ORDER BY matches.created_at DESC, matches.id DESC
    LIMIT $17
)
SELECT page.id, page.project_id, page.run_id, page.content, page.template_id, page.template_name,
       page.variant, page.word_count, page.readability_score, page.has_cta, page.status, page.flags,
       page.target_platform, page.created_at, page.updated_at,
       EXISTS (SELECT 1 FROM matches
               WHERE (matches.created_at, matches.id) >= ($15::timestamptz, $16::uuid)) AS behind
FROM (SELECT) AS one
LEFT JOIN page ON true
ORDER BY page.created_at DESC, page.id DESC;
