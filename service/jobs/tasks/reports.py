"""A project's JSON report: counts by status, platform and template, word-count and
readability statistics, runs by status (sql/jobs/report.sql: one statement, so one
snapshot). Stored as the job's result with the success, in one transaction."""
from __future__ import annotations

from service.jobs.queue import ResultWriter
from service.jobs.worker import Job
from service.store import jobs


async def run(job: Job) -> None:
    async with job.db.transaction() as tx:
        body = await jobs.report(tx, project_id=job.project_id)
        job.checkpoint()
        result = ResultWriter(tx, job, "application/json", f"project-{job.project_id}-report.json")
        await result.write(body)
        result.rows = None
        job.done = job.total = 1
        await result.close()
        await job.succeed(tx)
