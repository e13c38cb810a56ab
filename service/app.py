"""The application factory: create_app(settings) -> aiohttp Application."""
from __future__ import annotations

import logging
from typing import AsyncIterator

from aiohttp import web

from . import keys
from .api import auth, cache_health, clients, health, monitoring, posts, projects, runs
from .cache import QueryCache
from .cache_feed import InvalidationFeed
from .cache_invalidation import invalidate_after_write
from .cursors import CursorCodec
from .db.database import Database
from .db.migrations import discover
from .db.pool import Pool
from .db.registry import load_registry, query
from .metrics import Metrics, TierStatsCollector
from .pagination import Paginator
from .profiling import Profiler
from .settings import Settings
from .web import MAX_BODY_BYTES, request_middleware

log = logging.getLogger(__name__)

DELETE_EXPIRED_TOKENS = query("users/delete_expired_tokens")


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    pool = Pool(settings.database_url, settings)
    await pool.open()
    db = Database(pool)
    app[keys.DB] = db
    _instrument(app, db)
    app[keys.PAGINATOR] = Paginator(db, settings, app[keys.CODEC])
    await db.execute(DELETE_EXPIRED_TOKENS)
    try:
        yield
    finally:
        await pool.close()


async def _cache(app: web.Application) -> AsyncIterator[None]:
    """The query cache and its cross-instance invalidation feed (LISTEN)."""
    settings = app[keys.SETTINGS]
    feed = InvalidationFeed(settings.database_listen_url or settings.database_url, app[keys.CACHE])
    app[keys.CACHE_FEED] = feed
    if settings.cache_enabled:
        await feed.start()
    try:
        yield
    finally:
        await feed.stop()


def _instrument(app: web.Application, db: Database) -> None:
    """Every query feeds the metrics, and the profiler unless PROFILING_ENABLED=false."""
    db.observers.append(app[keys.METRICS].queries.observe)
    if app[keys.PROFILER].enabled:
        db.observers.append(app[keys.PROFILER].observe)
    app[keys.METRICS].watch_pool(db.pool)


def _monitoring(app: web.Application, settings: Settings) -> None:
    """Profiler, metrics (with the cache tiers) and the hooks run as each request ends."""
    profiler, metrics = Profiler(settings), Metrics(settings)
    app[keys.PROFILER], app[keys.METRICS] = profiler, metrics
    cache = app[keys.CACHE]
    metrics.registry.register(TierStatsCollector(lambda: cache.report()["tiers"]))
    finished = [metrics.http.observe]
    if profiler.enabled:
        finished.append(profiler.finish_request)
    app[keys.REQUEST_FINISHED] = finished


def create_app(settings: Settings) -> web.Application:
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (run.py resolves the embedded server)")
    load_registry()  # a missing SQL file fails here, not on the first request
    shipped_migrations = discover()
    app = web.Application(
        middlewares=[request_middleware],
        client_max_size=MAX_BODY_BYTES)
    app[keys.SETTINGS] = settings
    app[keys.MIGRATIONS] = shipped_migrations
    app[keys.CODEC] = CursorCodec(settings.secret_key)
    app[keys.CACHE] = QueryCache(settings)
    app[keys.AFTER_WRITE] = [invalidate_after_write]
    _monitoring(app, settings)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_cache)
    for module in (health, auth, clients, projects, runs, posts, cache_health, monitoring):
        module.add_routes(app)
    return app
