-- One project, if the caller may see it, with its post counts by status.
-- Parameters:
--   $1 id       uuid
--   $2 owner_id uuid: the caller's id, or NULL for an admin
SELECT projects.id, projects.client_id, projects.name, projects.status,
       projects.template_quantities, projects.num_posts, projects.price_per_post,
       projects.research_price_per_post, projects.total_price, projects.platforms,
       projects.tone, projects.created_at, projects.updated_at,
       counts.total, counts.approved, counts.flagged
FROM projects
CROSS JOIN LATERAL (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE posts.status = 'approved') AS approved,
           count(*) FILTER (WHERE posts.status = 'flagged') AS flagged
    FROM posts
    WHERE posts.project_id = projects.id
) AS counts
WHERE projects.id = $1
  AND ($2::uuid IS NULL OR projects.owner_id = $2);
