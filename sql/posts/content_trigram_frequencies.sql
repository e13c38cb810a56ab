-- The trigrams ANALYZE found most common in posts.content, with the fraction of posts
-- holding each (migration 0080). Empty before the first ANALYZE of posts, or for a
-- role that does not own the table (pg_stats_ext_exprs shows only the owner's).
-- Parameters: none.
SELECT t.trigram, t.frequency
FROM pg_stats_ext_exprs AS s
CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS t(trigram, frequency)
WHERE s.statistics_name = 'posts_content_trigrams'
  AND s.schemaname = current_schema()
  AND t.trigram IS NOT NULL;
