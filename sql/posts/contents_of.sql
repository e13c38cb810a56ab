-- The content of the given posts as the database has them now (the benchmark's
-- check that every acknowledged write landed).
-- Parameters:
--   $1 ids uuid[]
SELECT id::text AS id, content
FROM posts
WHERE id = ANY($1::uuid[]);
