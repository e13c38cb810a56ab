"""Cache invalidation across workers and instances, through PostgreSQL LISTEN/NOTIFY.

Triggers (migrations 0010, 0013 and 0100) NOTIFY cj_cache_invalidation with a table
name, the owner of the changed rows and which rows (`posts:<owner id>:<id>,...`, or
`:+` for new rows), when a statement changing it commits. Each process keeps one dedicated connection that
LISTENs (db/listener.py) and drops the namespaces that table feeds
(cache/invalidation.py). When that connection is lost the cache is emptied and
bypassed until it is back, since notifications sent meanwhile are lost.

Writes answered by this process also invalidate locally before responding (see
cache/invalidation.py), so the writer's next read is fresh without waiting for
its own notification.
"""
from __future__ import annotations

import asyncio

from service.cache.invalidation import parse_notification
from service.cache.response_cache import ResponseCache
from service.db.listener import Listener
from service.settings import Settings

CHANNEL = "cj_cache_invalidation"


class InvalidationFeed(Listener):
    channel = CHANNEL
    application_name = "cj-cache-listener"
    lost_message = "cache invalidation feed lost; cache bypassed until it reconnects"

    def __init__(self, dsn: str, cache: ResponseCache, settings: Settings | None = None) -> None:
        super().__init__(dsn, settings)
        self.cache = cache

    async def start(self, wait: float = 5.0) -> None:
        await self.cache.distrust()
        await super().start(wait)

    def on_notify(self, payload: str) -> None:
        # An unknown table drops everything rather than guess.
        namespaces, owner, rows = parse_notification(payload)
        asyncio.get_running_loop().create_task(self.cache.invalidate(namespaces, owner, rows))

    async def on_up(self) -> None:
        await self.cache.trust()    # start empty: changes while we were away are unknown

    async def on_down(self) -> None:
        await self.cache.distrust()
