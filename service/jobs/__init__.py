"""Background jobs on PostgreSQL (issue 10; docs/API.md section 8, planned).

The home of the queue (over a direct session connection, never through PgBouncer),
the worker, one owner's cap on queued and running jobs (quota), and one module per
task (exports, reports, emails, maintenance). Jobs
call service/store/ like the handlers do; nothing here runs SQL of its own."""
