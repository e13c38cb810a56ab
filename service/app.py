"""The application factory: create_app(settings) -> aiohttp Application."""
from __future__ import annotations

import logging
from typing import AsyncIterator

from aiohttp import web

from . import keys
from .api import auth, clients, health, posts, projects, runs
from .cursors import CursorCodec
from .db.database import Database
from .db.pool import Pool
from .db.registry import load_registry, query
from .pagination import Paginator
from .settings import Settings
from .web import MAX_BODY_BYTES, error_middleware, request_context_middleware

log = logging.getLogger(__name__)

DELETE_EXPIRED_TOKENS = query("users/delete_expired_tokens")


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    pool = Pool(settings.database_url, settings)
    await pool.open()
    db = Database(pool)
    app[keys.DB] = db
    app[keys.PAGINATOR] = Paginator(db, settings, app[keys.CODEC])
    await db.execute(DELETE_EXPIRED_TOKENS)
    try:
        yield
    finally:
        await pool.close()


def create_app(settings: Settings) -> web.Application:
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (run.py resolves the embedded server)")
    load_registry()  # a missing SQL file fails here, not on the first request
    app = web.Application(middlewares=[request_context_middleware, error_middleware],
                          client_max_size=MAX_BODY_BYTES)
    app[keys.SETTINGS] = settings
    app[keys.CODEC] = CursorCodec(settings.secret_key)
    app.cleanup_ctx.append(_database)
    for module in (health, auth, clients, projects, runs, posts):
        module.add_routes(app)
    return app
