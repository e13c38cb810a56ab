-- Some existing post ids (any, not random: ORDER BY random() costs seconds at 1M rows).
-- Used by the benchmark to pick posts to read and change.
-- Parameters:
--   $1 count integer: at most this many ids
SELECT id::text AS id
FROM posts
LIMIT $1;
