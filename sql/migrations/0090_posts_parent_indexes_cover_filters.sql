-- A project's or a run's posts, as a non-admin user sees them, carry owner_id too:
-- `owner_id = $1 AND project_id = $2`. The (project_id, created_at, id) index holds no
-- owner_id, so the owner's capped count of a project visited the heap for every one of
-- its rows (10,000 at 1,000,000 posts over 100 projects: 11-12 ms and a planner cost of
-- 24,000, against the admin's 1 ms index-only count), and a filter combined with the
-- project (status, platform, has_cta, needs_review, word count, readability) did the same.
-- Rebuilt with the owner and every non-text filter column as INCLUDE payload, the owner's
-- count within a project or a run, with or without those filters, is an index-only scan
-- like the admin's; the keys, and so the order of the pages, stay the same.
-- flags is included for needs_review (cardinality(flags) > 0): its arrays are short.
--
-- Building: about 3-6 s per index at 1,000,000 posts on a 2-core machine; the migration
-- lifts the statement timeout for its own transaction so a loaded machine cannot stop it
-- half way (DB_STATEMENT_TIMEOUT_MS may be given to the owner's connection too).
SET LOCAL statement_timeout = 0;
SET LOCAL maintenance_work_mem = '256MB';

DROP INDEX posts_project_created_at_id_idx;
CREATE INDEX posts_project_created_at_id_idx ON posts (project_id, created_at DESC, id DESC)
    INCLUDE (owner_id, status, target_platform, has_cta, word_count, readability_score, flags);

DROP INDEX posts_run_created_at_id_idx;
CREATE INDEX posts_run_created_at_id_idx ON posts (run_id, created_at DESC, id DESC)
    INCLUDE (owner_id, status, target_platform, has_cta, word_count, readability_score, flags)
    WHERE run_id IS NOT NULL;
