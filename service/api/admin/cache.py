"""Admin cache endpoints: GET /api/health/cache, POST /api/health/cache/clear, POST /api/health/cache/reset-stats."""
from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.health import worker_info
from service.auth.guards import require_admin, require_admin_or_metrics
from service.http.responses import json_response
from service.schemas import admin as schema
from service.schemas.validate import parse_query


def _report(request: web.Request, tier: str | None = None) -> dict:
    """This process's cache: each worker (WORKERS) and instance has its own, so the answer
    names the worker, as every health answer does (README "Multiple workers")."""
    cache = request.app[keys.CACHE]
    feed = request.app[keys.CACHE_FEED]
    report = cache.report(tier)
    report["invalidation_feed"] = {"connected": feed.connected.is_set(), "reconnects": feed.reconnects,
                                   "notifications": feed.notifications}
    report["worker"] = worker_info()
    return report


async def cache_stats(request: web.Request) -> web.Response:
    await require_admin_or_metrics(request)
    params = parse_query(request.query, schema.CACHE_TIER)
    return json_response(request, _report(request, params.get("tier")))


async def cache_clear(request: web.Request) -> web.Response:
    await require_admin(request)
    params = parse_query(request.query, schema.CACHE_CLEAR)
    tier, prefix = params.get("tier"), params.get("key_prefix")
    before = _report(request, tier)["tiers"]
    await request.app[keys.CACHE].clear(tier, prefix)
    after = _report(request, tier)["tiers"]
    return json_response(request, {
        "cleared": {"tier": tier or "all", "key_prefix": prefix},
        "before": {name: t["size"] for name, t in before.items()},
        "after": {name: t["size"] for name, t in after.items()},
        "worker": worker_info(),
    })


async def cache_reset_stats(request: web.Request) -> web.Response:
    await require_admin(request)
    parse_query(request.query, schema.NONE)
    request.app[keys.CACHE].reset_stats()
    return json_response(request, _report(request))
