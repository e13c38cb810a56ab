"""The application factory: create_app(settings) -> aiohttp Application, as a list of setup steps."""
from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from service import keys
from service.api.routes import add_routes, write_rows, write_tables
from service.cache.feed import InvalidationFeed
from service.cache.invalidation import WriteInvalidation
from service.cache.response_cache import ResponseCache
from service.db.database import Database
from service.db.fairness import UserLimiter
from service.db.migrations import discover
from service.db.pool import Pool
from service.db.routing import ReplicaRouter
from service.http import security_headers
from service.http.access_log import AccessLog
from service.http.body_budget import MAX_BODY_BYTES, BodyBudget
from service.http.middleware import request_middleware
from service.http.unsent_answers import StreamSlots
from service.jobs.metrics import JobCollector, JobMetrics
from service.observability.metrics import CacheBudgetCollector, CoherenceCollector, Metrics, TierStatsCollector
from service.observability.profiling import Profiler
from service.pagination.cursors import CursorCodec
from service.pagination.paginator import Paginator
from service.settings import Settings
from service.store import users


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    pool = Pool(settings.database_url, settings)
    await pool.open()
    router = ReplicaRouter(settings.database_replica_url, settings) if settings.database_replica_url else None
    db = Database(pool, UserLimiter(settings.db_user_concurrency, settings.db_pool_timeout), router)
    app[keys.DB] = db
    _instrument(app, db)
    app[keys.PAGINATOR] = Paginator(db, settings, app[keys.CODEC])
    await users.delete_expired_tokens(db)
    if router is not None:
        # The writer's fence first: it must be in place before the write is acknowledged.
        app[keys.AFTER_WRITE].insert(0, router.after_write)
        app[keys.FAILED_WRITE].append(router.failed_write)
        await router.start(db)
    try:
        yield
    finally:
        if router is not None:
            await router.stop()
        await pool.close()


async def _cache(app: web.Application) -> AsyncIterator[None]:
    """The cache's cross-instance invalidation feed (LISTEN): it runs whenever anything is
    cached, responses or only token lookups (CACHE_ENABLED=false, AUTH_CACHE_ENABLED=true)."""
    settings = app[keys.SETTINGS]
    feed = InvalidationFeed(settings.listen_url, app[keys.CACHE], settings)
    app[keys.CACHE_FEED] = feed
    if settings.invalidation_feed:
        await feed.start()
    try:
        yield
    finally:
        await feed.stop()


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    """The job worker of this process (JOBS_WORKER, default on; issue 10)."""
    from service.jobs.worker import Worker
    settings = app[keys.SETTINGS]
    worker = None
    if settings.jobs_worker:
        worker = Worker(app[keys.DB], settings, metrics=app[keys.JOB_METRICS])
        await worker.start()
    app[keys.JOB_WORKER] = worker
    try:
        yield
    finally:
        if worker is not None:
            await worker.stop()


def _instrument(app: web.Application, db: Database) -> None:
    """Every query feeds the metrics, and the profiler unless PROFILING_ENABLED=false."""
    db.observers.append(app[keys.METRICS].queries.observe)
    if app[keys.PROFILER].enabled:
        db.observers.append(app[keys.PROFILER].observe)
    app[keys.METRICS].watch_pool(db.pool)
    app[keys.METRICS].watch_replica(db.router)


def _monitoring(app: web.Application, settings: Settings) -> None:
    """Profiler, metrics (with the cache tiers) and the hooks run as each request ends (metrics,
    N+1 detection, access log)."""
    profiler, metrics = Profiler(settings), Metrics(settings)
    app[keys.PROFILER], app[keys.METRICS] = profiler, metrics
    cache = app[keys.CACHE]
    metrics.registry.register(TierStatsCollector(lambda: cache.report()["tiers"]))
    metrics.registry.register(CacheBudgetCollector(lambda: (cache.budget.used, cache.budget.limit)))
    app[keys.JOB_METRICS] = JobMetrics()
    metrics.registry.register(JobCollector(app[keys.JOB_METRICS]))
    metrics.registry.register(CoherenceCollector(lambda: cache.trusted))
    finished = [metrics.http.observe]
    if profiler.enabled:
        finished.append(profiler.finish_request)
    if settings.access_log:
        access = AccessLog(structured=settings.log_format == "json")
        finished.append(access)
        app.on_cleanup.append(access.close)
    app[keys.REQUEST_FINISHED] = finished


def create_app(settings: Settings) -> web.Application:
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (run.py resolves the embedded server)")
    security_headers.hide_server_version()
    app = web.Application(middlewares=[request_middleware], client_max_size=MAX_BODY_BYTES)
    app[keys.SETTINGS] = settings
    app[keys.MIGRATIONS] = discover()      # readiness compares the database with these
    app[keys.CODEC] = CursorCodec(settings.secret_key)
    app[keys.CACHE] = ResponseCache(settings)
    app[keys.BODY_BUDGET] = BodyBudget()
    app[keys.STREAM_SLOTS] = StreamSlots()
    app[keys.AFTER_WRITE] = [WriteInvalidation(write_tables(), write_rows())]
    app[keys.FAILED_WRITE] = []
    _monitoring(app, settings)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_cache)
    app.cleanup_ctx.append(_jobs)
    add_routes(app)
    return app
