-- Finished jobs in (finished_at, id) order straight from an index (sql/jobs/prune.sql).
--
-- Why: the prune takes the oldest finished jobs, `batch` at a time, ordered by
-- (finished_at, id). The index on finished_at alone gave them unordered within one
-- timestamp, so every batch read and sorted the whole backlog's equal timestamps (and
-- joined each to its result first): 60,000 jobs finished in one moment cost 300 ms a
-- batch, 600 batches, and a batch outlasting the statement timeout failed the maintenance
-- job (tests/integration/test_probe_jobs.py). Ordered by the index, a batch reads its own
-- rows and stops. The queue gauges' window (queue_gauges.sql) uses its leading column.
CREATE INDEX jobs_finished_at_id_idx ON jobs (finished_at, id) WHERE finished_at IS NOT NULL;
DROP INDEX jobs_finished_at_idx;
