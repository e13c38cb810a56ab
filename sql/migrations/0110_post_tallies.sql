-- Maintained post counts: how many posts each (owner, project, run, status,
-- needs_review) holds, kept by statement triggers in the transaction that changes posts.
--
-- Why: a list of one project's or one run's posts (10,000 posts each at 1M) was counted
-- row by row on every page 1, an index-only scan of 10,000 entries, 1-2 ms of database
-- CPU per request; page 1 within a project answered at half the throughput of a cursor
-- page (README "Performance", read matrix). Summing a project's tallies reads a handful
-- of rows (runs x 2 statuses x 2) and is exact, however many posts the project holds.
-- Paginator.count uses it when the filters are at most these columns and name a project
-- or a run (sql/posts/tally_count.sql); any other filter is counted as before.
--
-- Cost: each statement changing posts upserts the tallies its rows fall in, grouped (a
-- batch of 1,000 generated posts of one run is one or two upserts). Two transactions
-- adding posts to the same run and status queue on that tally row until the first
-- commits; rows are upserted in key order so two multi-row statements cannot deadlock
-- on each other. An UPDATE that moves no post between tallies (content, word count...)
-- writes nothing.
--
-- No foreign keys: a tally follows its posts (deleting a project deletes its posts, whose
-- trigger takes them off). Tallies that fall to 0 stay (a project's next post reuses the
-- row); they count nothing.

CREATE TABLE post_tallies (
    owner_id     uuid    NOT NULL,
    project_id   uuid    NOT NULL,
    run_id       uuid,                       -- NULL: posts with no run (or whose run was deleted)
    status       text    NOT NULL,
    needs_review boolean NOT NULL,           -- cardinality(flags) > 0, as visible_posts() tests it
    -- No CHECK (posts >= 0): an upsert's proposed row carries a negative change, and a
    -- CHECK is tested on the proposed row before the conflict turns it into an update.
    posts        bigint  NOT NULL,
    CONSTRAINT post_tallies_key UNIQUE NULLS NOT DISTINCT (project_id, run_id, owner_id, status, needs_review)
);
-- The key leads with project_id (a project's tallies); runs have their own index.
CREATE INDEX post_tallies_run_idx ON post_tallies (run_id) WHERE run_id IS NOT NULL;

-- One function for the three statement triggers: the rows a statement added, removed or
-- moved, grouped by tally key and added to (or taken from) their tallies.
CREATE FUNCTION post_tallies_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO post_tallies AS t (owner_id, project_id, run_id, status, needs_review, posts)
        SELECT owner_id, project_id, run_id, status, cardinality(flags) > 0, count(*)
        FROM new_rows
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 2, 3, 1, 4, 5
        ON CONFLICT ON CONSTRAINT post_tallies_key DO UPDATE SET posts = t.posts + excluded.posts;
    ELSIF TG_OP = 'DELETE' THEN
        -- A negative count for keys that exist already (their rows were counted in): the
        -- insert always conflicts, and the rows are updated in key order, as above.
        INSERT INTO post_tallies AS t (owner_id, project_id, run_id, status, needs_review, posts)
        SELECT owner_id, project_id, run_id, status, cardinality(flags) > 0, -count(*)
        FROM old_rows
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 2, 3, 1, 4, 5
        ON CONFLICT ON CONSTRAINT post_tallies_key DO UPDATE SET posts = t.posts + excluded.posts;
    ELSE
        -- UPDATE: -1 for each row's old key, +1 for its new one; keys whose net change is 0
        -- (the tally columns did not change) are not touched.
        INSERT INTO post_tallies AS t (owner_id, project_id, run_id, status, needs_review, posts)
        SELECT owner_id, project_id, run_id, status, needs_review, sum(delta)
        FROM (
            SELECT owner_id, project_id, run_id, status, cardinality(flags) > 0 AS needs_review, -1 AS delta
            FROM old_rows
            UNION ALL
            SELECT owner_id, project_id, run_id, status, cardinality(flags) > 0, 1
            FROM new_rows
        ) AS moved
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(delta) <> 0
        ORDER BY 2, 3, 1, 4, 5
        -- A key only losing rows exists already: its insert (a negative count) always conflicts.
        ON CONFLICT ON CONSTRAINT post_tallies_key DO UPDATE SET posts = t.posts + excluded.posts;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER posts_tallies_insert AFTER INSERT ON posts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION post_tallies_change();
CREATE TRIGGER posts_tallies_update AFTER UPDATE ON posts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION post_tallies_change();
CREATE TRIGGER posts_tallies_delete AFTER DELETE ON posts REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION post_tallies_change();

CREATE FUNCTION post_tallies_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM post_tallies;
    RETURN NULL;
END;
$$;

CREATE TRIGGER posts_tallies_truncate AFTER TRUNCATE ON posts
    FOR EACH STATEMENT EXECUTE FUNCTION post_tallies_clear();

-- The posts already there (the migration runs in one transaction with the triggers: no
-- change is counted twice or missed).
INSERT INTO post_tallies (owner_id, project_id, run_id, status, needs_review, posts)
SELECT owner_id, project_id, run_id, status, cardinality(flags) > 0, count(*)
FROM posts
GROUP BY 1, 2, 3, 4, 5;
