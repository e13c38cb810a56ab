"""Typed application keys: everything a handler reaches through the app, in one place."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .auth import User
    from .cache import QueryCache
    from .cache_feed import InvalidationFeed
    from .context import RequestContext
    from .cursors import CursorCodec
    from .db.database import Database
    from .db.migrations import Migration
    from .metrics import Metrics
    from .profiling import Profiler
    from .web import AfterWrite, RequestFinished
    from .pagination import Paginator
    from .settings import Settings

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
DB: web.AppKey["Database"] = web.AppKey("db")
CODEC: web.AppKey["CursorCodec"] = web.AppKey("codec")
PAGINATOR: web.AppKey["Paginator"] = web.AppKey("paginator")
CACHE: web.AppKey["QueryCache"] = web.AppKey("cache")
# The migration files this code ships, read once at start-up (readiness compares with them).
MIGRATIONS: web.AppKey[list["Migration"]] = web.AppKey("migrations")
CACHE_FEED: web.AppKey["InvalidationFeed"] = web.AppKey("cache_feed")
PROFILER: web.AppKey["Profiler"] = web.AppKey("profiler")
METRICS: web.AppKey["Metrics"] = web.AppKey("metrics")
# Called when each request ends (metrics, N+1 detection); see web.request_middleware.
REQUEST_FINISHED: web.AppKey[list["RequestFinished"]] = web.AppKey("request_finished")
# Awaited after each successful write, before the response (cache invalidation).
AFTER_WRITE: web.AppKey[list["AfterWrite"]] = web.AppKey("after_write")

# Per-request storage
REQUEST_CTX: web.RequestKey["RequestContext"] = web.RequestKey("ctx")
USER: web.RequestKey["User"] = web.RequestKey("user")
