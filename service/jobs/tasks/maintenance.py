"""Periodic maintenance, one job per JOBS_MAINTENANCE_INTERVAL_S slot across every
worker and instance (worker.schedule_maintenance): purge expired access tokens, and
finished jobs (with their results) and silent worker rows past JOBS_RETENTION_HOURS."""
from __future__ import annotations

import logging

from service.jobs.queue import ResultWriter
from service.jobs.worker import Job
from service.jsonutil import dumps
from service.store import jobs, users

log = logging.getLogger(__name__)


async def run(job: Job) -> None:
    async with job.db.transaction() as tx:
        tokens = await users.delete_expired_tokens(tx)
        pruned = await jobs.prune(tx, retention_hours=job.settings.jobs_retention_hours)
        job.checkpoint()
        summary = {"expired_tokens_deleted": tokens, "jobs_pruned": pruned}
        result = ResultWriter(tx, job, "application/json", f"maintenance-{job.id}.json")
        await result.write(dumps(summary))
        await result.close()
        job.done = job.total = 1
        await job.succeed(tx)
    log.info("maintenance: %s", summary)
