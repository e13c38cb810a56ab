-- Generation runs of a project.
CREATE TABLE runs (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id    uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    is_batch      boolean     NOT NULL DEFAULT false,
    status        text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    started_at    timestamptz,
    completed_at  timestamptz,
    logs          jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(logs) = 'array'),
    error_message text,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX runs_created_at_id_idx ON runs (created_at DESC, id DESC);
CREATE INDEX runs_owner_created_at_id_idx ON runs (owner_id, created_at DESC, id DESC);
CREATE INDEX runs_project_created_at_id_idx ON runs (project_id, created_at DESC, id DESC);
