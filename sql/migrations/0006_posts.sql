-- Generated social-media posts. A post belongs to its project (deleted with it);
-- its run is a reference only (a vanished run leaves run_id NULL).
CREATE TABLE posts (
    id                uuid             PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id          uuid             NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id        uuid             NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    run_id            uuid             REFERENCES runs (id) ON DELETE SET NULL,
    content           text             NOT NULL CHECK (length(content) BETWEEN 1 AND 100000),
    template_id       text,
    template_name     text,
    variant           integer,
    word_count        integer          NOT NULL CHECK (word_count >= 0),
    readability_score double precision CHECK (readability_score BETWEEN 0 AND 100),
    has_cta           boolean          NOT NULL DEFAULT false,
    status            text             NOT NULL DEFAULT 'approved'
                      CHECK (status IN ('approved', 'flagged')),
    flags             text[]           NOT NULL DEFAULT '{}',
    target_platform   text
                      CHECK (target_platform IN ('linkedin', 'twitter', 'facebook', 'blog')),
    created_at        timestamptz      NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz      NOT NULL DEFAULT clock_timestamp()
);

-- Every list order and the filters that lead a composite: each keyset query is
-- an index range scan in (created_at, id) order, with no sort.
CREATE INDEX posts_created_at_id_idx ON posts (created_at DESC, id DESC);
CREATE INDEX posts_owner_created_at_id_idx ON posts (owner_id, created_at DESC, id DESC);
CREATE INDEX posts_project_created_at_id_idx ON posts (project_id, created_at DESC, id DESC);
CREATE INDEX posts_run_created_at_id_idx ON posts (run_id, created_at DESC, id DESC)
    WHERE run_id IS NOT NULL;
CREATE INDEX posts_status_created_at_id_idx ON posts (status, created_at DESC, id DESC);
CREATE INDEX posts_platform_created_at_id_idx ON posts (target_platform, created_at DESC, id DESC);
-- search (content) and template_name: case-insensitive part of the text.
CREATE INDEX posts_content_trgm_idx ON posts USING gin (content gin_trgm_ops);
CREATE INDEX posts_template_name_trgm_idx ON posts USING gin (template_name gin_trgm_ops);
