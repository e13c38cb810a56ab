-- Lists of a non-admin user always carry owner_id, so the filters people combine
-- with it need indexes led by owner_id too; otherwise `owner_id = $1 AND status = $2`
-- reads one of the two single-filter indexes and throws away most of what it reads
-- (a review queue of flagged posts reads ~50 rows per row it shows). With these, the
-- keyset range is one index range, and a deep page's boundary probe is index-only.
CREATE INDEX posts_owner_status_created_at_id_idx
    ON posts (owner_id, status, created_at DESC, id DESC);
CREATE INDEX posts_owner_platform_created_at_id_idx
    ON posts (owner_id, target_platform, created_at DESC, id DESC);
CREATE INDEX projects_owner_status_created_at_id_idx
    ON projects (owner_id, status, created_at DESC, id DESC);

-- A parent filter (project_id, run_id, client_id) implies the owner, but the planner
-- multiplies the two selectivities as if independent, estimates a handful of rows,
-- and then prefers a bitmap scan plus a sort over the parent's ordered index.
-- Functional-dependency statistics tell it that the parent determines the owner.
CREATE STATISTICS posts_parents_determine_owner (dependencies) ON owner_id, project_id, run_id FROM posts;
CREATE STATISTICS projects_client_determines_owner (dependencies) ON owner_id, client_id FROM projects;
CREATE STATISTICS runs_project_determines_owner (dependencies) ON owner_id, project_id FROM runs;
