"""GET /api/health/full: every check summarized, with an overall status (503 when unhealthy)."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from service import SERVICE_NAME, __version__, keys
from service.api.admin.database import pool_view
from service.api.admin.jobs import jobs_report
from service.api.health import worker_info
from service.auth.guards import require_admin_or_metrics
from service.http.responses import json_response
from service.observability.advice import overall_status
from service.observability.probes import database_check

JOBS_REPORT_TIMEOUT_S = 2.0


async def full(request: web.Request) -> web.Response:
    caller = await require_admin_or_metrics(request)
    app = request.app
    db = app[keys.DB]
    state, problem = await database_check(db)
    pool = pool_view(db)
    checks = {"database": state, "pool": pool["status"]}
    body: dict[str, Any] = {
        "service": SERVICE_NAME, "version": __version__, "worker": worker_info(),
        "database": {"status": state, "error": problem},
        "pool": {**pool, "events": db.pool.events.as_dict()},
        "profiling": app[keys.PROFILER].summary(),
    }
    # The cache section: present when the app has a query cache.
    cache = app.get(keys.CACHE)
    if cache is not None:
        body["cache"] = cache.report()
        # Incoherent matters whenever anything is cached: the setting that starts the feed says so.
        cached = app[keys.SETTINGS].invalidation_feed
        checks["cache"] = "ok" if body["cache"]["coherent"] or not cached else "incoherent"
    # A configured replica that is not serving (down, lagging): reads all go to the primary.
    if db.router is not None:
        checks["replica"] = db.router.state
        body["replica"] = {"state": db.router.state, "lag_s": db.router.view()["lag_s"],
                           "error": db.router.last_error}
    # Background jobs (issue 10): the queue report; its failure does not hide the rest. Bounded
    # like the ping: on a saturated pool it would otherwise wait DB_POOL_TIMEOUT for a
    # connection, and every poll of the status page would add one more waiter.
    try:
        body["jobs"] = await asyncio.wait_for(jobs_report(db, app, scraper=caller is None), JOBS_REPORT_TIMEOUT_S)
    except TimeoutError:
        body["jobs"] = {"error": f"the job queue was not read within {JOBS_REPORT_TIMEOUT_S:g} s"}
    except Exception as exc:
        body["jobs"] = {"error": str(exc)}
    status = overall_status(checks)
    body["status"] = status
    body["checks"] = checks
    return json_response(request, body, status=503 if status == "unhealthy" else 200)
