"""Admin profiling endpoints: the report, per-query statistics, recent slow queries, reset."""
from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.health import worker_info
from service.auth.guards import require_admin, require_admin_or_metrics
from service.http.responses import json_response
from service.schemas import admin as schema
from service.schemas.validate import parse_query


async def profiling_report(request: web.Request) -> web.Response:
    await require_admin_or_metrics(request)
    return json_response(request, {**request.app[keys.PROFILER].report(), "worker": worker_info()})


async def profiling_queries(request: web.Request) -> web.Response:
    await require_admin_or_metrics(request)
    params = parse_query(request.query, schema.PROFILING_QUERIES)
    items = request.app[keys.PROFILER].query_stats(
        min_execution_count=params.get("min_execution_count", 0), min_avg_time_ms=params.get("min_avg_time_ms", 0.0),
        only_slow=params.get("only_slow", False), limit=params.get("limit", 50))
    return json_response(request, {"items": items, "count": len(items), "worker": worker_info()})


async def profiling_slow_queries(request: web.Request) -> web.Response:
    await require_admin_or_metrics(request)
    params = parse_query(request.query, schema.SLOW_QUERIES)
    profiler = request.app[keys.PROFILER]
    items = profiler.slow_queries(limit=params.get("limit", 50), since_minutes=params.get("since_minutes"),
                                  very_slow_only=params.get("very_slow_only", False))
    return json_response(request, {"items": items, "count": len(items), "thresholds": profiler.thresholds(),
                                   "worker": worker_info()})


async def profiling_reset(request: web.Request) -> web.Response:
    await require_admin(request)
    profiler = request.app[keys.PROFILER]
    before = profiler.summary()
    profiler.reset()
    return json_response(request, {"reset": True, "before": before, "after": profiler.summary()})
