"""Admin pool endpoints: /api/health/database and /api/health/database/events."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from service import keys
from service.api.health import worker_info
from service.auth.guards import require_admin_or_metrics
from service.db.database import Database
from service.db.routing import unconfigured_view
from service.http.responses import json_response
from service.observability.advice import pool_recommendations, pool_status
from service.observability.probes import server_capacity
from service.settings import Settings


def _settings_view(settings: Settings) -> dict[str, Any]:
    return {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow,
            "max_size": settings.pool_max_size, "pool_recycle_s": settings.db_pool_recycle,
            "pool_pre_ping": settings.db_pool_pre_ping, "pool_timeout_s": settings.db_pool_timeout,
            "statement_timeout_ms": settings.db_statement_timeout_ms,
            "leak_threshold_s": settings.db_leak_threshold_s, "idle_timeout_s": settings.db_idle_timeout_s,
            "echo_pool": settings.db_echo_pool, "workers": settings.workers,
            "replica_max_lag_s": settings.db_replica_max_lag_s}


def pool_view(db: Database) -> dict:
    state = db.pool.state()
    status, utilization = pool_status(state)
    return {**state, "utilization_percent": utilization, "status": status}


async def database(request: web.Request) -> web.Response:
    await require_admin_or_metrics(request)
    db, settings = request.app[keys.DB], request.app[keys.SETTINGS]
    capacity = await server_capacity(db)
    view = pool_view(db)
    events = db.pool.events.as_dict()
    return json_response(request, {
        "pool": view, "status": view["status"], "server": capacity,
        "recommendations": pool_recommendations(settings, events, view, capacity,
                                                pooled=bool(db.pool.session.get("pooler"))),
        "replica": db.router.view() if db.router is not None else unconfigured_view(),
        "settings": _settings_view(settings), "worker": worker_info()})


async def database_events(request: web.Request) -> web.Response:
    await require_admin_or_metrics(request)
    db, settings = request.app[keys.DB], request.app[keys.SETTINGS]
    return json_response(request, {
        **db.pool.events.as_dict(), "waiting": db.pool.waiting,
        "leak_threshold_s": settings.db_leak_threshold_s, "held_past_threshold": db.pool.long_holds(),
        "recent_leaks": list(db.pool.events.recent_leaks), "worker": worker_info()})
