-- needs_review is `cardinality(flags) > 0` (visible_posts(), migration 0011). Without
-- statistics on that expression the planner guesses a third of the rows for it; with
-- them (ANALYZE keeps the distribution of cardinality(flags)) it knows the share of posts
-- with flags, and so whether the capped count is worth running (Paginator.count).
CREATE STATISTICS posts_flags_cardinality ON (cardinality(flags)) FROM posts;
