-- The trigrams ANALYZE found most common in posts.content, with the fraction of posts
-- holding each (statistics of migration 0080, read by the SECURITY DEFINER function of
-- migration 0095 so that the serving role sees them too: pg_stats_ext_exprs shows them
-- only to the table's owner). Empty before the first ANALYZE of posts.
-- Parameters: none.
SELECT trigram, frequency
FROM posts_content_trigram_frequencies();
