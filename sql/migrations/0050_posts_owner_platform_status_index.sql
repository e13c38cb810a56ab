-- A user's list always carries owner_id, so the dashboard's common filter pair
-- (/api/posts?status=approved&platform=linkedin, migration 0012) needs an index led by
-- the owner and both filters too: with only (owner_id, status, ...) the capped count
-- visited the heap to test the platform, and at 1,000,000 posts the planner preferred a
-- sequential scan (owner 138-149 req/s, p50 105-113 ms vs the admin's 483-589 req/s).
-- Led by all three, the owner's count and page are index(-only) ranges in
-- (created_at, id) order, like the admin's.
CREATE INDEX posts_owner_platform_status_created_at_id_idx
    ON posts (owner_id, target_platform, status, created_at DESC, id DESC);
