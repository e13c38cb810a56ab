"""A project's JSON report: counts by status, platform and template, word-count and
readability statistics, runs by status (sql/jobs/report.sql: one statement, so one
snapshot). Stored as the job's result with the success, in one transaction.

The report is built whole in memory: it names at most TEMPLATES templates (the most
used; `other_templates` counts the rest), so its size does not follow the user's text."""
from __future__ import annotations

from service.jobs.queue import ResultWriter
from service.jobs.worker import Job
from service.store import jobs

# Templates named in by_template: about 800 bytes each at most (200 characters of 4 bytes).
TEMPLATES = 1000


async def run(job: Job) -> None:
    async with job.db.transaction() as tx:
        body = await jobs.report(tx, project_id=job.project_id, templates=TEMPLATES)
        job.checkpoint()
        result = ResultWriter(tx, job, "application/json", f"project-{job.project_id}-report.json")
        await result.write(body)
        result.rows = None
        job.done = job.total = 1
        await result.finish()
