"""GET /api/health/jobs: the queue at a glance (admin)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from service import keys
from service.auth.guards import require_admin_or_metrics
from service.http.responses import json_response
from service.store import jobs


def _error_class(error: str | None) -> str | None:
    """A job's error as a scraper sees it: the exception's class only. The rest is the
    failure's own text, which can quote what the job handled (an SMTP server's refusal
    names the client's email address); admins and the job's owner see it whole."""
    return None if error is None else error.split(":", 1)[0]


async def jobs_report(db, app: web.Application, *, scraper: bool = False) -> dict[str, Any]:
    """Depth by kind and status, oldest due queued job, running jobs, workers, recent failures
    (for a METRICS_TOKEN scraper, their errors reduced to the exception's class)."""
    failures = [dict(r) for r in await jobs.recent_failures(db)]
    if scraper:
        for failure in failures:
            failure["error"] = _error_class(failure["error"])
    depth = await jobs.depth(db)
    worker = app.get(keys.JOB_WORKER)
    return {
        "depth": [{"kind": r["kind"], "status": r["status"], "jobs": r["jobs"]} for r in depth],
        "queued": sum(r["jobs"] for r in depth if r["status"] == "queued"),
        "oldest_queued_age_s": (await jobs.queue_gauges(db))["oldest_due_s"],
        "running": [dict(r) for r in await jobs.running(db)],
        "workers": [dict(r) for r in await jobs.workers(db)],
        "recent_failures": failures,
        "this_process": None if worker is None else {"worker_id": worker.id, "concurrency": worker.concurrency,
                                                      "running": len(worker.running)},
    }


async def health_jobs(request: web.Request) -> web.Response:
    caller = await require_admin_or_metrics(request)
    return json_response(request, await jobs_report(request.app[keys.DB], request.app, scraper=caller is None))
