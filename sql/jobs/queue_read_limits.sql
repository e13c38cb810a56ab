-- Bounds for GET /metrics' read of the queue (jobs/metrics.py), for the rest of its
-- transaction: a lock held on the jobs table (a migration) or a slow scan ends the read
-- with an error from the server, within the scrape's time, instead of a scrape that
-- waits or a query left running after the scrape gave up.
-- Parameters: none
SELECT set_config('lock_timeout', '250ms', true),
       set_config('statement_timeout', '800ms', true);
