-- A deleted project's post counts go with it (tests/integration/test_probe_writes.py).
--
-- Why: the tallies of migration 0110 have no foreign key; a project's deletion takes its
-- posts off them, down to 0, and the rows stayed for ever: one per run, status and review
-- state the project had ever held. Creating and deleting projects, as the API lets any
-- user do, grew post_tallies without bound, with rows no answer reads.
--
-- This trigger deletes the tallies of a deleted project (the API's DELETE, a client's or
-- an owner's cascade) when its transaction commits. Deferred, because the cascades' own
-- triggers fire after the deleting statement's: the posts' trigger (0110) takes the posts
-- off their tallies after any trigger of the projects statement, and would upsert them
-- again, negative, had they been deleted first. At commit every one has run. No post can
-- be added to a project being deleted meanwhile (its foreign key check waits for the
-- deleting transaction, then fails). A live project's tallies that fall to 0 stay, as
-- before: its next post reuses the row, and their number is bounded by its runs.
CREATE FUNCTION post_tallies_of_deleted_project() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM post_tallies WHERE project_id = OLD.id;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER projects_delete_post_tallies AFTER DELETE ON projects
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION post_tallies_of_deleted_project();

-- The tallies already left behind by deleted projects.
DELETE FROM post_tallies AS t
WHERE NOT EXISTS (SELECT 1 FROM projects AS p WHERE p.id = t.project_id);
