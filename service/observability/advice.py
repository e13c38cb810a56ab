"""Advice rules over measurements: the pool's status, capacity against the server,
recommendations (each naming the setting to change) and the overall health status.

Pure functions: the health endpoints and `run.py serve`'s start-up check share them."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, TypedDict

from service.settings import Settings

# Pool status by utilization (in use / max): below 50 % healthy, 75 % moderate, 90 % high.
_STATUS_STEPS = ((90.0, "critical"), (75.0, "high"), (50.0, "moderate"))
_RANK = {"healthy": 0, "moderate": 1, "high": 2, "critical": 3}

# Recommendation rules need this much evidence before judging a ratio.
MIN_ACQUIRES_FOR_RATIOS = 100
MIN_ACQUIRES_FOR_OVERSIZE = 1000
WAITED_SHARE_WARNING = 0.01
WAIT_P95_WARNING_MS = 10.0
HOLD_P95_WARNING_MS = 1000.0


class Advice(TypedDict, total=False):
    """One recommendation, the same shape in every health answer (pool, cache, profiling)."""
    severity: Literal["info", "warning", "critical"]
    message: str
    tier: str          # cache advice about one tier


def advice(severity: Literal["info", "warning", "critical"], message: str, **about: str) -> Advice:
    return Advice(severity=severity, message=message, **about)


def pool_status(state: dict[str, int]) -> tuple[str, float]:
    """(healthy | moderate | high | critical, utilization %) from in use / max and the waiters."""
    utilization = round(100.0 * state["in_use"] / state["max"], 1) if state["max"] else 0.0
    status = next((name for floor, name in _STATUS_STEPS if utilization >= floor), "healthy")
    if state["waiting"] and state["in_use"] >= state["max"]:
        status = "critical"                  # every connection busy and requests queueing
    elif state["waiting"] and status == "healthy":
        status = "moderate"                  # queueing while the pool grows
    return status, utilization


def capacity_advice(settings: Settings, capacity: dict | None, *, pooled: bool = False) -> Iterable[Advice]:
    """Does DB_POOL_SIZE + DB_MAX_OVERFLOW times the workers fit the server's max_connections?
    Behind a pooler (`pooled`: DATABASE_URL reaches PgBouncer) the pools' connections end at
    the pooler, whose own server connections (its default_pool_size) are what the server
    sees of them: only each worker's LISTEN connections (DATABASE_DIRECT_URL) reach it."""
    if capacity is None:
        return
    usable = capacity["max_connections"] - capacity["reserved"]
    # Each worker's LISTEN connections of its own (as `run.py serve` counts at start-up): the
    # cache invalidation feed whenever responses or token lookups are cached, and the job
    # wake-ups whenever it runs a job worker (JOBS_WORKER).
    listeners = (1 if settings.invalidation_feed else 0) + (1 if settings.jobs_worker else 0)
    if pooled:
        needed = listeners * settings.workers
        if needed > usable:
            yield advice("critical", f"{settings.workers} worker(s) x {listeners} LISTEN connection(s) = {needed}, "
                          f"but the server allows {usable} (max_connections {capacity['max_connections']} minus "
                          f"{capacity['reserved']} reserved), before PgBouncer's own server connections: raise "
                          "max_connections or run fewer workers.")
        return
    per_worker = settings.pool_max_size + listeners
    needed = per_worker * settings.workers
    if needed > usable:
        yield advice("critical", f"{settings.workers} worker(s) x {per_worker} connections (pool max "
                      f"{settings.pool_max_size} + {listeners} listener(s)) = {needed} at peak, but the server allows "
                      f"{usable} (max_connections {capacity['max_connections']} "
                      f"minus {capacity['reserved']} reserved): lower DB_MAX_OVERFLOW or DB_POOL_SIZE, raise "
                      "max_connections, or put PgBouncer in front.")
    elif needed > 0.8 * usable:
        yield advice("warning", f"pool max x workers = {needed} of the server's {usable} usable connections: "
                      "another instance or a migration could find none left.")


def pool_recommendations(settings: Settings, events: dict, state: dict[str, int],
                         capacity: dict | None, *, pooled: bool = False) -> list[Advice]:
    found = list(capacity_advice(settings, capacity, pooled=pooled))
    acquires = events["acquires"]
    if events["acquire_timeouts"]:
        found.append(advice("critical", f"{events['acquire_timeouts']} request(s) got 503 after waiting "
                              f"DB_POOL_TIMEOUT={settings.db_pool_timeout:g} s for a connection: raise DB_POOL_SIZE "
                              "or DB_MAX_OVERFLOW, or shorten what holds connections (see hold_ms)."))
    if acquires >= MIN_ACQUIRES_FOR_RATIOS:
        waited = events["acquires_waited_for_full_pool"]
        if waited / acquires >= WAITED_SHARE_WARNING:
            found.append(advice("warning", f"{100.0 * waited / acquires:.1f}% of acquires found all "
                                  f"{state['max']} connections busy: raise DB_POOL_SIZE (or DB_MAX_OVERFLOW)."))
        if events["acquire_wait_ms"]["p95"] >= WAIT_P95_WARNING_MS:
            found.append(advice("warning", f"p95 wait for a connection is {events['acquire_wait_ms']['p95']:.1f} "
                                  "ms: requests queue for the pool; raise DB_POOL_SIZE."))
        if events["hold_ms"]["p95"] >= HOLD_P95_WARNING_MS:
            found.append(advice("warning", f"p95 hold time is {events['hold_ms']['p95']:.0f} ms: connections "
                                  "are kept across slow work; keep transactions short."))
    peak = events["peak_in_use"]
    if acquires >= MIN_ACQUIRES_FOR_OVERSIZE and settings.db_pool_size > 2 and peak * 2 <= settings.db_pool_size:
        found.append(advice("info", f"at most {peak} of DB_POOL_SIZE={settings.db_pool_size} connections were "
                              f"ever in use at once: DB_POOL_SIZE={max(2, peak * 2)} would serve this load and "
                              "free server connections."))
    elif peak > settings.db_pool_size:
        found.append(advice("info", f"peak use {peak} exceeded DB_POOL_SIZE={settings.db_pool_size}: overflow "
                              "connections were opened; if this is the normal load, raise DB_POOL_SIZE."))
    if events["leaks_suspected"]:
        found.append(advice("warning", f"{events['leaks_suspected']} connection(s) were held longer than "
                              f"DB_LEAK_THRESHOLD_S={settings.db_leak_threshold_s:g} s: see recent_leaks in "
                              "/api/health/database/events for the endpoints and request ids."))
    if events["pre_ping_failures"]:
        found.append(advice("info", f"{events['pre_ping_failures']} idle connection(s) were found dead and "
                              "replaced: something between here and the server drops idle connections; lower "
                              "DB_POOL_RECYCLE or DB_IDLE_TIMEOUT_S below its timeout."))
    if not found:
        found.append(advice("info", "The pool is healthy."))
    return found


def overall_status(checks: dict[str, str]) -> str:
    """unhealthy when the database is down; degraded when it takes no writes (read_only), could
    not be asked for a saturated pool (unknown), the pool is high/critical, the cache is
    incoherent, or a configured replica is not serving."""
    database = checks.get("database")
    if database not in ("ok", "read_only", "unknown"):
        return "unhealthy"
    if (database in ("read_only", "unknown") or _RANK.get(checks.get("pool", "healthy"), 0) >= _RANK["high"]
            or checks.get("cache", "ok") != "ok" or checks.get("replica", "up") != "up"):
        return "degraded"
    return "healthy"


