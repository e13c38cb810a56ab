"""GET /metrics: Prometheus text; open unless METRICS_TOKEN is set."""
from __future__ import annotations

from aiohttp import web

from service import keys
from service.auth.guards import require_metrics
from service.observability.metrics import CONTENT_TYPE


async def metrics(request: web.Request) -> web.Response:
    require_metrics(request)
    # The job queue's gauges come from the database, read now (at most once a second).
    await request.app[keys.JOB_METRICS].refresh_queue(request.app[keys.DB])
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
