-- Projects belong to a client; owner_id repeats the client's owner.
CREATE TABLE projects (
    id                      uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id                uuid          NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id               uuid          NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    name                    text          NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status                  text          NOT NULL DEFAULT 'draft'
                            CHECK (status IN ('draft', 'processing', 'qa_review', 'ready', 'delivered')),
    template_quantities     jsonb         NOT NULL DEFAULT '{}'
                            CHECK (jsonb_typeof(template_quantities) = 'object'),
    num_posts               integer       CHECK (num_posts >= 0),
    price_per_post          numeric(12,2) CHECK (price_per_post >= 0),
    research_price_per_post numeric(12,2) CHECK (research_price_per_post >= 0),
    total_price             numeric(12,2) CHECK (total_price >= 0),
    platforms               text[]        NOT NULL DEFAULT '{}',
    tone                    text,
    created_at              timestamptz   NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz   NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX projects_created_at_id_idx ON projects (created_at DESC, id DESC);
CREATE INDEX projects_owner_created_at_id_idx ON projects (owner_id, created_at DESC, id DESC);
CREATE INDEX projects_client_created_at_id_idx ON projects (client_id, created_at DESC, id DESC);
CREATE INDEX projects_status_created_at_id_idx ON projects (status, created_at DESC, id DESC);
CREATE INDEX projects_name_trgm_idx ON projects USING gin (name gin_trgm_ops);
