-- A project's report as one JSON document. One statement reads one snapshot, so its
-- figures agree with one another. by_template names the `templates` most used templates
-- (most posts first, then by name); other_templates counts the rest and their posts;
-- without_template counts the posts with none (once `none` in by_template, where a
-- template the user named "none" was merged with them).
-- Template names are the user's own text, one per post: uncapped, 200,000 posts of
-- distinct 200-character names made a 151 MiB report and grew the worker by 462 MiB.
-- Parameters:
--   $1 project_id uuid, $2 templates integer
WITH p AS (
    SELECT status, target_platform, template_name, word_count, readability_score
    FROM posts
    WHERE project_id = $1
), templates AS (
    SELECT name, n, row_number() OVER (ORDER BY n DESC, name) AS rank
    FROM (SELECT template_name AS name, count(*) AS n FROM p WHERE template_name IS NOT NULL GROUP BY 1) AS t
)
SELECT jsonb_build_object(
    'project', (SELECT jsonb_build_object('id', id, 'name', name, 'status', status)
                FROM projects WHERE id = $1),
    'generated_at', clock_timestamp(),
    'posts', (SELECT count(*) FROM p),
    'by_status', (SELECT coalesce(jsonb_object_agg(status, n), '{}')
                  FROM (SELECT status, count(*) AS n FROM p GROUP BY status) AS s),
    'by_platform', (SELECT coalesce(jsonb_object_agg(coalesce(target_platform, 'none'), n), '{}')
                    FROM (SELECT target_platform, count(*) AS n FROM p GROUP BY target_platform) AS s),
    'by_template', (SELECT coalesce(jsonb_object_agg(name, n), '{}') FROM templates WHERE rank <= $2),
    'other_templates', (SELECT jsonb_build_object('templates', count(*), 'posts', coalesce(sum(n), 0))
                        FROM templates WHERE rank > $2),
    'without_template', (SELECT count(*) FROM p WHERE template_name IS NULL),
    'word_count', (SELECT jsonb_build_object('min', min(word_count), 'avg', round(avg(word_count), 2),
                                             'max', max(word_count)) FROM p),
    'readability', (SELECT jsonb_build_object('min', min(readability_score),
                                              'avg', round(avg(readability_score)::numeric, 2),
                                              'max', max(readability_score)) FROM p),
    'runs', (SELECT jsonb_build_object(
                 'total', coalesce(sum(n), 0),
                 'by_status', coalesce(jsonb_object_agg(status, n) FILTER (WHERE status IS NOT NULL), '{}'))
             FROM (SELECT status, count(*) AS n FROM runs WHERE project_id = $1 GROUP BY status) AS s)
)::text;
