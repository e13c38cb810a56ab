-- A job's result no longer locks the job's row while it is written (README "Background
-- jobs"; tests/integration/test_probe_jobs.py).
--
-- Why: job_results and job_result_chunks referenced jobs (id) ON DELETE CASCADE. The
-- foreign key's check takes a KEY SHARE lock on the job row with an attempt's first
-- chunk, and an export writes its chunks in the one transaction that reads the posts,
-- so the row stayed locked for the whole export:
--   * the rescue (sql/jobs/rescue.sql, FOR UPDATE SKIP LOCKED) skipped it: the job of a
--     frozen worker, or of a host cut off while its connection lived on, stayed
--     `running` for as long as that connection lasted and never ran elsewhere;
--   * deleting the job's project or owner (which cascades to the job) waited for the
--     export to end, or failed on the statement timeout.
-- Without the foreign keys, this trigger binds the rows to their job: a job deleted
-- (retention, its project's or owner's deletion) takes its result with it. Nothing is
-- orphaned otherwise: an attempt writes its result in the transaction that marks the
-- job succeeded, and that mark (sql/jobs/succeed.sql) locks the job's row and finds it
-- or rolls the result back; a deletion that waited on that lock reads the committed
-- rows afterwards (each statement of the trigger takes a new snapshot).
ALTER TABLE job_result_chunks DROP CONSTRAINT job_result_chunks_job_id_fkey;
ALTER TABLE job_results DROP CONSTRAINT job_results_job_id_fkey;

CREATE FUNCTION jobs_delete_results() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_result_chunks WHERE job_id IN (SELECT id FROM gone);
    DELETE FROM job_results WHERE job_id IN (SELECT id FROM gone);
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_delete_results
    AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_delete_results();
