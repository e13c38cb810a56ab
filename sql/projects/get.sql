-- One project, if the caller may see it, with its post counts by status: sums of the
-- maintained tallies (migration 0110), a few rows however many posts the project holds.
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
    SELECT coalesce(sum(tallies.posts), 0)::bigint AS total,
           coalesce(sum(tallies.posts) FILTER (WHERE tallies.status = 'approved'), 0)::bigint AS approved,
           coalesce(sum(tallies.posts) FILTER (WHERE tallies.status = 'flagged'), 0)::bigint AS flagged
    FROM post_tallies AS tallies
    WHERE tallies.project_id = projects.id
) AS counts
WHERE projects.id = $1
  AND ($2::uuid IS NULL OR projects.owner_id = $2);
