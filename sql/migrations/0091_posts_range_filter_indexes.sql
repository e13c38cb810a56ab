-- min/max_word_count and min/max_readability: a range the planner can read by index.
-- Without one, a range matching few rows (max_word_count=10: none at all in the seed
-- data; min_readability=90: 0.08 %) walked the (created_at, id) index testing every row
-- until the page filled, and the capped count read the whole table (150-170 ms each at
-- 1,000,000 posts). With these, a rare range's count is an index-only range (owner_id
-- included for a user's lists), and so is page 1's search for its keys: created_at and
-- id are included, so the page's (created_at, id) top-N is sorted from the index alone
-- and only the page's rows are read from the table (sql/posts/list_offset_*.sql).
-- A common range still walks the list in order: the planner picks by its estimate.
SET LOCAL statement_timeout = 0;
SET LOCAL maintenance_work_mem = '256MB';

CREATE INDEX posts_word_count_idx ON posts (word_count) INCLUDE (owner_id, created_at, id);
CREATE INDEX posts_readability_score_idx ON posts (readability_score) INCLUDE (owner_id, created_at, id);
