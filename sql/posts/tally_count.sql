-- How many posts the caller sees in one project or one run, from the maintained
-- tallies (migration 0110): exact, and a few rows read however many posts match.
-- Paginator.count runs it instead of count.sql when the filters are at most these and
-- name a project or a run; status and needs_review narrow the tallies summed.
-- Parameters:
--   $1 owner_id      uuid: the caller's id, or NULL for an admin (all rows)
--   $2 project_id    uuid: or NULL
--   $3 run_id        uuid: or NULL
--   $4 status        text: approved | flagged, or NULL
--   $5 needs_review  boolean: true = has flags, false = none, or NULL
SELECT coalesce(sum(posts), 0)::bigint AS total
FROM post_tallies
WHERE ($1::uuid IS NULL OR owner_id = $1)
  AND ($2::uuid IS NULL OR project_id = $2)
  AND ($3::uuid IS NULL OR run_id = $3)
  AND ($4::text IS NULL OR status = $4)
  AND ($5::boolean IS NULL OR needs_review = $5);
