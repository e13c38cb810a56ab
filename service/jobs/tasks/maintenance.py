"""Periodic maintenance, one job per JOBS_MAINTENANCE_INTERVAL_S slot across every
worker and instance (worker.schedule_maintenance): purge expired access tokens, and
finished jobs (with their results) and silent worker rows past JOBS_RETENTION_HOURS.

Finished jobs go PRUNE_BATCH (and PRUNE_BATCH_BYTES of results) at a time, each batch
in its own transaction: one DELETE
of a whole backlog (a busy hour's results, days without a worker) could outlast the
statement timeout, fail every maintenance job, and so never be pruned again. A
batch deleted stays deleted if a later one fails; the next run goes on from there.
"""
from __future__ import annotations

import logging

from service.jobs.queue import ResultWriter
from service.jobs.worker import Job
from service.jsonutil import dumps
from service.store import jobs, users

log = logging.getLogger(__name__)

# Jobs per prune statement, and bytes of their results (after the first job): their
# result chunks go with them, 1 MiB each.
PRUNE_BATCH = 100
PRUNE_BATCH_BYTES = 64 * 1024 * 1024


async def run(job: Job) -> None:
    hours = job.settings.jobs_retention_hours
    async with job.db.transaction() as tx:
        tokens = await users.delete_expired_tokens(tx)
        await jobs.prune_workers(tx, retention_hours=hours)
    pruned = 0
    while True:
        job.checkpoint()
        async with job.db.transaction() as tx:
            batch = await jobs.prune(tx, retention_hours=hours, batch=PRUNE_BATCH, max_bytes=PRUNE_BATCH_BYTES)
        pruned += batch
        job.done = pruned
        if not batch:
            break
    async with job.db.transaction() as tx:
        summary = {"expired_tokens_deleted": tokens, "jobs_pruned": pruned}
        result = ResultWriter(tx, job, "application/json", f"maintenance-{job.id}.json")
        await result.write(dumps(summary))
        job.done = job.total = 1
        await result.finish()
    log.info("maintenance: %s", summary)
