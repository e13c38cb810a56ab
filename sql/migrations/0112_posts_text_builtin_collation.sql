-- posts.content and posts.template_name take PostgreSQL's built-in C.UTF-8 collation
-- (pg_c_utf8, PostgreSQL 17+), so that ILIKE lowercases them with the built-in Unicode
-- case mapping instead of the C library's.
--
-- Why: every search (`search`, `template_name`) tests ILIKE on each candidate row the
-- trigram index returns. Under a libc collation (initdb's default, also the embedded
-- server's C.UTF-8) ILIKE costs 1.6 us per 190-character post; under pg_c_utf8 0.7 us
-- (100,000 posts, a sequential test of each). A rare word (`search=post 777`, 1,111 matches
-- at 1M posts) tests two patterns per candidate (service/store/trigrams.py), so this is
-- most of its page's time. Which rows match does not change for text whose letters have
-- one lowercase form (every language but a few special cases such as Turkish dotted I).
-- Nothing sorts by these columns; the code-point order of pg_c_utf8 is C.UTF-8's anyway.
--
-- Cost: no table rewrite (only the collation changes), but the indexes on the two columns
-- are rebuilt and their statistics dropped, so posts is analyzed again at once (without the
-- trigram frequencies of migration 0080 a search would ask the index for its whole term
-- until autovacuum happened to analyze): 24 s in all at 1M posts on a 2-core machine,
-- under an exclusive lock on posts.
-- Skipped (a no-op) before PostgreSQL 17, outside UTF8 databases, and where the columns
-- already have it; the service runs the same either way.
DO $$
BEGIN
    IF getdatabaseencoding() = 'UTF8'
       AND EXISTS (SELECT FROM pg_collation WHERE collname = 'pg_c_utf8')
       AND (SELECT collname FROM pg_collation c
            JOIN pg_attribute a ON a.attcollation = c.oid
            WHERE a.attrelid = 'posts'::regclass AND a.attname = 'content') <> 'pg_c_utf8'
    THEN
        ALTER TABLE posts
            ALTER COLUMN content TYPE text COLLATE pg_c_utf8,
            ALTER COLUMN template_name TYPE text COLLATE pg_c_utf8;
        ANALYZE posts;
    END IF;
END
$$;
