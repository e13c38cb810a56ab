"""One LISTEN connection kept alive: the loop the cache feed and the job wake-ups share.

A LISTEN needs a dedicated connection: a pooled one would carry the LISTEN to
whichever request takes it next (and asyncpg's pool runs `UNLISTEN *` on release),
and PgBouncer's transaction mode cannot keep one at all, so callers pass the direct
URL; a connection that turns out to go through a pooler in transaction mode anyway
(DATABASE_DIRECT_URL unset behind PgBouncer) is refused, and the listener stays down. A
pooler in session mode carries a LISTEN like a direct connection: behind any pooler a
probe notification is sent from another connection, and only one that arrives lets the
listener up (hears_through_pooler). The loop connects like
every other single connection (db.pool.connect, so DB_STATEMENT_CACHE_SIZE holds), pings
every HEARTBEAT_S so a silent partition is noticed, and reconnects with backoff by itself. Subclasses say what a notification
means and what to do when the connection comes up or goes down (notifications sent
while it was down are lost).
"""
from __future__ import annotations

import asyncio
import logging
import secrets

import asyncpg

from service.db.pool import behind_pooler, connect
from service.db.server import PING
from service.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
# Behind a pooler in transaction mode a LISTEN cannot work (see ThroughPooler); retried
# this seldom, in case the address is changed to reach the server directly.
POOLER_RETRY_S = 60.0
# How long the probe notification may take through a pooler in session mode.
POOLER_PROBE_S = 2.0


class ThroughPooler(Exception):
    """The LISTEN connection reached the server through a pooler (PgBouncer): in transaction
    mode the LISTEN stays on whichever server connection ran it, whose notifications reach
    whichever client holds it next; ours would hear almost none of them while looking
    connected, and every other process would serve what its cache holds until the TTL
    (a logged-out token for CACHE_LONG_TTL)."""


class Listener:
    channel: str
    application_name: str
    lost_message = "LISTEN connection lost"

    def __init__(self, dsn: str, settings: Settings | None = None) -> None:
        self.dsn = dsn
        self.settings = settings or Settings()
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.notifications = 0
        self._task: asyncio.Task | None = None
        self._conn: asyncpg.Connection | None = None

    async def start(self, wait: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run(), name=self.application_name)
        try:
            await asyncio.wait_for(asyncio.shield(self.connected.wait()), wait)
        except TimeoutError:
            log.warning("%s: not connected yet (%s)", self.application_name, self.lost_message)

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

    def on_notify(self, payload: str) -> None:
        raise NotImplementedError

    async def on_up(self) -> None:
        """The connection LISTENs again (called before `connected` is set)."""

    async def on_down(self) -> None:
        """The connection is gone; notifications are being lost until on_up."""

    def _notified(self, conn, pid: int, channel: str, payload: str) -> None:
        self.notifications += 1
        self.on_notify(payload)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            lost = asyncio.Event()
            try:
                self._conn = await connect(self.dsn, self.settings, application_name=self.application_name,
                                           timeout=5)
                if await behind_pooler(self._conn) and not await self.hears_through_pooler():
                    raise ThroughPooler("the LISTEN connection goes through a pooler (PgBouncer) that does not "
                                        "carry it (transaction mode); set DATABASE_DIRECT_URL to a direct "
                                        "connection to the server, or to the pooler in session mode")
                self._conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await self._conn.add_listener(self.channel, self._notified)
                await self.on_up()
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
            except ThroughPooler as exc:
                log.error("%s: %s (%s)", self.application_name, self.lost_message, exc)
                backoff = POOLER_RETRY_S
            except Exception as exc:
                log.warning("%s: %s (%s)", self.application_name, self.lost_message, exc)
            self.connected.clear()
            await self.on_down()
            await self._close()
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def hears_through_pooler(self) -> bool:
        """Does a notification sent from another connection reach this one? In session mode the
        pooler keeps our server connection ours, so it does; in transaction mode the LISTEN
        stayed on a server connection we no longer hold, and we send nothing meanwhile that
        could link us to it again, so it does not."""
        channel = f"cj_probe_{secrets.token_hex(6)}"
        heard = asyncio.Event()

        def on_probe(*_args) -> None:
            heard.set()
        await self._conn.add_listener(channel, on_probe)
        try:
            sender = await connect(self.dsn, self.settings, application_name=self.application_name, timeout=5)
            try:
                await sender.execute(f"NOTIFY {channel}")
            finally:
                await sender.close()
            try:
                await asyncio.wait_for(heard.wait(), POOLER_PROBE_S)
                return True
            except TimeoutError:
                return False
        finally:
            await self._conn.remove_listener(channel, on_probe)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()
