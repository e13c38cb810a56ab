-- One filter function per list: the rows of a list the caller may see, with its
-- optional filters (NULL = not filtering). Every list query of sql/<list>/ (offset,
-- keyset, boundary probe, count) selects FROM its function, so the filters are
-- written once.
--
-- The functions are LANGUAGE sql, STABLE, not STRICT, with one SELECT and no SET
-- clause: PostgreSQL inlines such a set-returning function into the calling query,
-- so the planner sees the plain WHERE clause. With custom plans (the pool sets
-- plan_cache_mode = force_custom_plan) the filters given as NULL fold away and the
-- index of the present ones serves the ORDER BY (created_at, id) with no sort.

CREATE FUNCTION visible_clients(
    p_owner_id uuid,
    p_search text
) RETURNS SETOF clients
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT *
    FROM clients
    WHERE (p_owner_id IS NULL OR clients.owner_id = p_owner_id)
      AND (p_search IS NULL OR clients.name ILIKE p_search)
$$;

CREATE FUNCTION visible_projects(
    p_owner_id uuid,
    p_status text,
    p_client_id uuid,
    p_search text
) RETURNS SETOF projects
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT *
    FROM projects
    WHERE (p_owner_id IS NULL OR projects.owner_id = p_owner_id)
      AND (p_status IS NULL OR projects.status = p_status)
      AND (p_client_id IS NULL OR projects.client_id = p_client_id)
      AND (p_search IS NULL OR projects.name ILIKE p_search)
$$;

CREATE FUNCTION visible_runs(
    p_owner_id uuid,
    p_project_id uuid
) RETURNS SETOF runs
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT *
    FROM runs
    WHERE (p_owner_id IS NULL OR runs.owner_id = p_owner_id)
      AND (p_project_id IS NULL OR runs.project_id = p_project_id)
$$;

CREATE FUNCTION visible_posts(
    p_owner_id uuid,
    p_project_id uuid,
    p_run_id uuid,
    p_status text,
    p_platform text,
    p_has_cta boolean,
    p_template_name text,
    p_needs_review boolean,
    p_search text,
    p_min_word_count integer,
    p_max_word_count integer,
    p_min_readability float8,
    p_max_readability float8
) RETURNS SETOF posts
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT *
    FROM posts
    WHERE (p_owner_id IS NULL OR posts.owner_id = p_owner_id)
      AND (p_project_id IS NULL OR posts.project_id = p_project_id)
      AND (p_run_id IS NULL OR posts.run_id = p_run_id)
      AND (p_status IS NULL OR posts.status = p_status)
      AND (p_platform IS NULL OR posts.target_platform = p_platform)
      AND (p_has_cta IS NULL OR posts.has_cta = p_has_cta)
      AND (p_template_name IS NULL OR posts.template_name ILIKE p_template_name)
      AND (p_needs_review IS NULL OR (cardinality(posts.flags) > 0) = p_needs_review)
      AND (p_search IS NULL OR posts.content ILIKE p_search)
      AND (p_min_word_count IS NULL OR posts.word_count >= p_min_word_count)
      AND (p_max_word_count IS NULL OR posts.word_count <= p_max_word_count)
      AND (p_min_readability IS NULL OR posts.readability_score >= p_min_readability)
      AND (p_max_readability IS NULL OR posts.readability_score <= p_max_readability)
$$;
