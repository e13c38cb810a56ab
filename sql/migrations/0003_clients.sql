-- Clients belong to a user (owner_id). Every owned table carries owner_id so that
-- "only your rows" is one indexed column, not a join up the ownership chain.
CREATE TABLE clients (
    id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id             uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                 text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email                text        CHECK (length(email) <= 254),
    business_description text,
    ideal_customer       text,
    main_problem_solved  text,
    tone_preference      text,
    platforms            text[]      NOT NULL DEFAULT '{}',
    customer_pain_points text[]      NOT NULL DEFAULT '{}',
    customer_questions   text[]      NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at           timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- List order (created_at, id), for admins and per owner.
CREATE INDEX clients_created_at_id_idx ON clients (created_at DESC, id DESC);
CREATE INDEX clients_owner_created_at_id_idx ON clients (owner_id, created_at DESC, id DESC);
-- search: case-insensitive part of the name.
CREATE INDEX clients_name_trgm_idx ON clients USING gin (name gin_trgm_ops);
