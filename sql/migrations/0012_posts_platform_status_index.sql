-- Status and platform together are the dashboard's common filter pair
-- (/api/posts?status=approved&platform=linkedin). With an index led by only one of
-- them, the capped count had to visit the heap to test the other for up to
-- COUNT_EXACT_LIMIT rows (run.py bench: 108 req/s, p50 143 ms at 100k posts).
-- Led by both, the count and the page are index ranges in (created_at, id) order.
CREATE INDEX posts_platform_status_created_at_id_idx
    ON posts (target_platform, status, created_at DESC, id DESC);
