-- The trigram frequencies of posts.content (statistics object of migration 0080) for the
-- serving role. pg_stats_ext_exprs shows a statistics object's rows only to roles that
-- own its table (pg_has_role(relowner, 'USAGE')), so the serving role (README "Database
-- roles") read none, and a served search never narrowed its trigram index condition
-- (service/store/trigrams.py). This function reads them as its owner (the role that runs
-- the migrations and owns posts): SECURITY DEFINER, with a fixed search_path (pg_catalog,
-- then this schema) so that no object of the caller's can stand in for the ones it uses.
-- It returns only what ANALYZE keeps about the trigrams (which are common, and how
-- often), no row. EXECUTE goes to the serving role by the grants every start runs
-- (sql/roles/owned_functions.sql), not to PUBLIC.
DO $migration$
BEGIN
    EXECUTE format($function$
        CREATE FUNCTION posts_content_trigram_frequencies()
        RETURNS TABLE (trigram text, frequency real)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, %1$I
        AS $body$
            SELECT t.trigram, t.frequency
            FROM pg_catalog.pg_stats_ext_exprs AS s
            CROSS JOIN LATERAL unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs)
                AS t(trigram, frequency)
            WHERE s.statistics_name = 'posts_content_trigrams'
              AND s.schemaname = %1$L
              AND s.tablename = 'posts'
              AND t.trigram IS NOT NULL
        $body$
    $function$, current_schema());
END
$migration$;

REVOKE EXECUTE ON FUNCTION posts_content_trigram_frequencies() FROM PUBLIC;
