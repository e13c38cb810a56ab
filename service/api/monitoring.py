"""Admin monitoring endpoints (API.md section 6) and GET /metrics.

/api/health/database[/events], /api/health/profiling[/queries|/slow-queries|/reset]
and /api/health/full need an admin; /metrics is open unless METRICS_TOKEN is set.
Everything reported here is measured (db.pool.PoolEvents, profiling.Profiler);
the recommendations are rules over those measurements, each naming the setting
to change.
"""
from __future__ import annotations

import asyncio
import hmac
from typing import Any, Iterable

from aiohttp import web

from .. import SERVICE_NAME, __version__, keys
from ..auth import bearer_token, require_admin
from ..db.database import Database
from ..db.registry import query
from ..errors import ApiError, Unauthorized
from ..metrics import CONTENT_TYPE
from ..settings import Settings
from ..validation import Field, parse_query
from ..web import json_response
from .health import worker_info

PING = query("health/ping")
SERVER_CAPACITY = query("health/server_capacity")
PING_TIMEOUT_S = 1.0

# Pool status by utilization (in use / max): below 50 % healthy, 75 % moderate, 90 % high.
_STATUS_STEPS = ((90.0, "critical"), (75.0, "high"), (50.0, "moderate"))
_RANK = {"healthy": 0, "moderate": 1, "high": 2, "critical": 3}

# Recommendation rules need this much evidence before judging a ratio.
MIN_ACQUIRES_FOR_RATIOS = 100
MIN_ACQUIRES_FOR_OVERSIZE = 1000
WAITED_SHARE_WARNING = 0.01
WAIT_P95_WARNING_MS = 10.0
HOLD_P95_WARNING_MS = 1000.0


def _advice(severity: str, message: str) -> dict:
    return {"severity": severity, "message": message}


# -- pool assessment ----------------------------------------------------------------

def pool_status(state: dict[str, int]) -> tuple[str, float]:
    """(healthy | moderate | high | critical, utilization %) from in use / max and the waiters."""
    utilization = round(100.0 * state["in_use"] / state["max"], 1) if state["max"] else 0.0
    status = next((name for floor, name in _STATUS_STEPS if utilization >= floor), "healthy")
    if state["waiting"] and state["in_use"] >= state["max"]:
        status = "critical"                  # every connection busy and requests queueing
    elif state["waiting"] and status == "healthy":
        status = "moderate"                  # queueing while the pool grows
    return status, utilization


def capacity_advice(settings: Settings, capacity: dict | None) -> Iterable[dict]:
    """Does DB_POOL_SIZE + DB_MAX_OVERFLOW times the workers fit the server's max_connections?"""
    if capacity is None:
        return
    usable = capacity["max_connections"] - capacity["reserved"]
    # +1 per worker: the cache invalidation listener's own connection (as `run.py serve` counts at start-up).
    per_worker = settings.pool_max_size + (1 if settings.cache_enabled else 0)
    needed = per_worker * settings.workers
    if needed > usable:
        yield _advice("critical", f"{settings.workers} worker(s) x {per_worker} connections (pool max "
                      f"{settings.pool_max_size} + listener) = {needed} at peak, but the server allows {usable} "
                      f"(max_connections {capacity['max_connections']} "
                      f"minus {capacity['reserved']} reserved): lower DB_MAX_OVERFLOW or DB_POOL_SIZE, raise "
                      "max_connections, or put PgBouncer in front.")
    elif needed > 0.8 * usable:
        yield _advice("warning", f"pool max x workers = {needed} of the server's {usable} usable connections: "
                      "another instance or a migration could find none left.")


def pool_recommendations(settings: Settings, events: dict, state: dict[str, int],
                         capacity: dict | None) -> list[dict]:
    advice = list(capacity_advice(settings, capacity))
    acquires = events["acquires"]
    if events["acquire_timeouts"]:
        advice.append(_advice("critical", f"{events['acquire_timeouts']} request(s) got 503 after waiting "
                              f"DB_POOL_TIMEOUT={settings.db_pool_timeout:g} s for a connection: raise DB_POOL_SIZE "
                              "or DB_MAX_OVERFLOW, or shorten what holds connections (see hold_ms)."))
    if acquires >= MIN_ACQUIRES_FOR_RATIOS:
        waited = events["acquires_waited_for_full_pool"]
        if waited / acquires >= WAITED_SHARE_WARNING:
            advice.append(_advice("warning", f"{100.0 * waited / acquires:.1f}% of acquires found all "
                                  f"{state['max']} connections busy: raise DB_POOL_SIZE (or DB_MAX_OVERFLOW)."))
        if events["acquire_wait_ms"]["p95"] >= WAIT_P95_WARNING_MS:
            advice.append(_advice("warning", f"p95 wait for a connection is {events['acquire_wait_ms']['p95']:.1f} "
                                  "ms: requests queue for the pool; raise DB_POOL_SIZE."))
        if events["hold_ms"]["p95"] >= HOLD_P95_WARNING_MS:
            advice.append(_advice("warning", f"p95 hold time is {events['hold_ms']['p95']:.0f} ms: connections "
                                  "are kept across slow work; keep transactions short."))
    peak = events["peak_in_use"]
    if acquires >= MIN_ACQUIRES_FOR_OVERSIZE and settings.db_pool_size > 2 and peak * 2 <= settings.db_pool_size:
        advice.append(_advice("info", f"at most {peak} of DB_POOL_SIZE={settings.db_pool_size} connections were "
                              f"ever in use at once: DB_POOL_SIZE={max(2, peak * 2)} would serve this load and "
                              "free server connections."))
    elif peak > settings.db_pool_size:
        advice.append(_advice("info", f"peak use {peak} exceeded DB_POOL_SIZE={settings.db_pool_size}: overflow "
                              "connections were opened; if this is the normal load, raise DB_POOL_SIZE."))
    if events["leaks_suspected"]:
        advice.append(_advice("warning", f"{events['leaks_suspected']} connection(s) were held longer than "
                              f"DB_LEAK_THRESHOLD_S={settings.db_leak_threshold_s:g} s: see recent_leaks in "
                              "/api/health/database/events for the endpoints and request ids."))
    if events["pre_ping_failures"]:
        advice.append(_advice("info", f"{events['pre_ping_failures']} idle connection(s) were found dead and "
                              "replaced: something between here and the server drops idle connections; lower "
                              "DB_POOL_RECYCLE or DB_IDLE_TIMEOUT_S below its timeout."))
    if not advice:
        advice.append(_advice("info", "The pool is healthy."))
    return advice


async def server_capacity(db: Database) -> dict | None:
    """max_connections, reserved slots and open connections, or None when the server cannot say."""
    try:
        row = await asyncio.wait_for(db.fetchrow(SERVER_CAPACITY), PING_TIMEOUT_S)
    except (ApiError, asyncio.TimeoutError):
        return None
    return dict(row) if row is not None else None


def _settings_view(settings: Settings) -> dict[str, Any]:
    return {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow,
            "max_size": settings.pool_max_size, "pool_recycle_s": settings.db_pool_recycle,
            "pool_pre_ping": settings.db_pool_pre_ping, "pool_timeout_s": settings.db_pool_timeout,
            "statement_timeout_ms": settings.db_statement_timeout_ms,
            "leak_threshold_s": settings.db_leak_threshold_s, "idle_timeout_s": settings.db_idle_timeout_s,
            "echo_pool": settings.db_echo_pool, "workers": settings.workers}


def _pool_view(db: Database) -> dict:
    state = db.pool.state()
    status, utilization = pool_status(state)
    return {**state, "utilization_percent": utilization, "status": status}


# -- handlers -------------------------------------------------------------------------

async def database(request: web.Request) -> web.Response:
    await require_admin(request)
    db, settings = request.app[keys.DB], request.app[keys.SETTINGS]
    capacity = await server_capacity(db)
    view = _pool_view(db)
    events = db.pool.events.as_dict()
    return json_response(request, {
        "pool": view, "status": view["status"], "server": capacity,
        "recommendations": pool_recommendations(settings, events, view, capacity),
        "settings": _settings_view(settings), "worker": worker_info()})


async def database_events(request: web.Request) -> web.Response:
    await require_admin(request)
    db, settings = request.app[keys.DB], request.app[keys.SETTINGS]
    return json_response(request, {
        **db.pool.events.as_dict(), "waiting": db.pool.waiting,
        "leak_threshold_s": settings.db_leak_threshold_s, "held_past_threshold": db.pool.long_holds(),
        "recent_leaks": list(db.pool.events.recent_leaks), "worker": worker_info()})


async def profiling_report(request: web.Request) -> web.Response:
    await require_admin(request)
    return json_response(request, {**request.app[keys.PROFILER].report(), "worker": worker_info()})


_QUERY_FILTERS = {
    "min_execution_count": Field("int", minimum=0),
    "min_avg_time_ms": Field("number", minimum=0),
    "only_slow": Field("bool"),
    "limit": Field("int", minimum=1, maximum=1000),
}


async def profiling_queries(request: web.Request) -> web.Response:
    await require_admin(request)
    params = parse_query(request.query, _QUERY_FILTERS)
    items = request.app[keys.PROFILER].query_stats(
        min_execution_count=params.get("min_execution_count", 0), min_avg_time_ms=params.get("min_avg_time_ms", 0.0),
        only_slow=params.get("only_slow", False), limit=params.get("limit", 50))
    return json_response(request, {"items": items, "count": len(items), "worker": worker_info()})


_SLOW_FILTERS = {
    "limit": Field("int", minimum=1, maximum=100000),
    "since_minutes": Field("number", minimum=0, maximum=525600),
    "very_slow_only": Field("bool"),
}


async def profiling_slow_queries(request: web.Request) -> web.Response:
    await require_admin(request)
    params = parse_query(request.query, _SLOW_FILTERS)
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


async def _database_answers(db: Database) -> str | None:
    """None when a ping answers within a second, else why not."""
    try:
        async def ping() -> None:
            async with db.session() as session:
                await session.fetchval(PING)
        await asyncio.wait_for(ping(), PING_TIMEOUT_S)
    except asyncio.TimeoutError:
        return f"no answer within {PING_TIMEOUT_S:g} s"
    except ApiError as exc:
        return exc.message
    return None


async def full(request: web.Request) -> web.Response:
    await require_admin(request)
    app = request.app
    db = app[keys.DB]
    problem = await _database_answers(db)
    pool = _pool_view(db)
    checks = {"database": "down" if problem else "ok", "pool": pool["status"]}
    body: dict[str, Any] = {
        "service": SERVICE_NAME, "version": __version__, "worker": worker_info(),
        "database": {"status": checks["database"], "error": problem},
        "pool": {**pool, "events": db.pool.events.as_dict()},
        "profiling": app[keys.PROFILER].summary(),
    }
    # The cache section: present when the app has a query cache.
    cache = app.get(keys.CACHE)
    if cache is not None:
        body["cache"] = cache.report()
        checks["cache"] = "ok" if body["cache"]["coherent"] or not body["cache"]["enabled"] else "incoherent"
    status = overall_status(checks)
    body["status"] = status
    body["checks"] = checks
    return json_response(request, body, status=503 if status == "unhealthy" else 200)


def overall_status(checks: dict[str, str]) -> str:
    """unhealthy when the database is down; degraded when the pool is high/critical or the cache is incoherent."""
    if checks.get("database") != "ok":
        return "unhealthy"
    if _RANK.get(checks.get("pool", "healthy"), 0) >= _RANK["high"] or checks.get("cache", "ok") != "ok":
        return "degraded"
    return "healthy"


async def metrics(request: web.Request) -> web.Response:
    expected = request.app[keys.SETTINGS].metrics_token
    if expected is not None:
        given = bearer_token(request)
        if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("metrics need Authorization: Bearer <METRICS_TOKEN>")
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/health/database", database)
    app.router.add_get("/api/health/database/events", database_events)
    app.router.add_get("/api/health/profiling", profiling_report)
    app.router.add_get("/api/health/profiling/queries", profiling_queries)
    app.router.add_get("/api/health/profiling/slow-queries", profiling_slow_queries)
    app.router.add_post("/api/health/profiling/reset", profiling_reset)
    app.router.add_get("/api/health/full", full)
    app.router.add_get("/metrics", metrics)
