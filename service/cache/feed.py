"""Cache invalidation across workers and instances, through PostgreSQL LISTEN/NOTIFY.

Triggers (migrations 0010 and 0013) NOTIFY cj_cache_invalidation with a table name,
and the owner of the changed rows (`posts:<owner id>`), when a statement changing
it commits. Each process keeps one dedicated connection that
LISTENs (a pooled connection would carry the LISTEN to whichever request takes it
next, and PgBouncer's transaction mode cannot keep one at all) and drops the
namespaces that table feeds (cache/invalidation.py). When that connection is
lost the cache is emptied and bypassed until it is back, since notifications sent
meanwhile are lost; reconnection retries with backoff, by itself.

Writes answered by this process also invalidate locally before responding (see
cache/invalidation.py), so the writer's next read is fresh without waiting for
its own notification.
"""
from __future__ import annotations

import asyncio
import logging

import asyncpg

from service.cache.invalidation import parse_notification
from service.cache.response_cache import ResponseCache
from service.db.pool import connect
from service.db.server import PING
from service.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "cj_cache_invalidation"
HEARTBEAT_S = 5.0


class InvalidationFeed:
    def __init__(self, dsn: str, cache: ResponseCache, settings: Settings | None = None) -> None:
        self.dsn = dsn
        self.settings = settings or Settings()
        self.cache = cache
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.notifications = 0
        self._task: asyncio.Task | None = None
        self._conn: asyncpg.Connection | None = None

    async def start(self, wait: float = 5.0) -> None:
        await self.cache.distrust()
        self._task = asyncio.create_task(self._run(), name="cache-invalidation-feed")
        try:
            await asyncio.wait_for(self.connected.wait(), wait)
        except TimeoutError:
            log.warning("cache invalidation feed not connected yet; the cache stays bypassed until it is")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def backend_pid(self) -> int | None:
        return None if self._conn is None or self._conn.is_closed() else self._conn.get_server_pid()

    def _on_notify(self, conn, pid: int, channel: str, payload: str) -> None:
        self.notifications += 1
        # An unknown table drops everything rather than guess.
        namespaces, owner = parse_notification(payload)
        asyncio.get_running_loop().create_task(self.cache.invalidate(namespaces, owner))

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            lost = asyncio.Event()
            try:
                self._conn = await connect(self.dsn, self.settings, application_name="cj-cache-listener", timeout=5)
                self._conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await self._conn.add_listener(CHANNEL, self._on_notify)
                await self.cache.trust()    # start empty: changes while we were away are unknown
                self.connected.set()
                backoff = 0.1
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), HEARTBEAT_S)
                    except TimeoutError:
                        await self._conn.fetchval(PING.text, timeout=HEARTBEAT_S)
            except asyncio.CancelledError:
                await self._close()
                raise
            except Exception as exc:
                log.warning("cache invalidation feed lost (%s); cache bypassed until it reconnects", exc)
            self.connected.clear()
            await self.cache.distrust()
            await self._close()
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()
