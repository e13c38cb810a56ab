"""Health probes over the database, each bounded by a timeout: does it answer, and
how many connections does it allow."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.db import server
from service.db.database import Database
from service.errors import ApiError

PING_TIMEOUT_S = 1.0


class BoundedCheckout:
    """A probe's session, and whether it got one: a probe that timed out before any
    connection was free while the pool was full never asked the server, so its timeout
    says nothing of the database (a saturated pool is not an outage)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.got_one = False

    @asynccontextmanager
    async def session(self) -> AsyncIterator:
        async with self.db.session() as session:
            self.got_one = True
            yield session

    def saturated(self, waited_s: float) -> str | None:
        """Why the server was not asked, if the pool's saturation kept it from being."""
        pool = self.db.pool.state()
        if self.got_one or pool["in_use"] < pool["max"]:
            return None
        return f"all {pool['max']} pooled connections stayed in use for {waited_s:g} s; the server was not asked"


async def server_capacity(db: Database) -> dict | None:
    """max_connections, reserved slots and open connections, or None when the server cannot say."""
    async def ask() -> dict:
        async with db.session() as session:
            return await server.capacity(session)
    try:
        return await asyncio.wait_for(ask(), PING_TIMEOUT_S)
    except (TimeoutError, ApiError):
        return None


async def database_check(db: Database) -> tuple[str, str | None]:
    """("ok", None) when the server answers within a second and takes writes; ("read_only",
    why) when it answers but takes none (a hot standby after a failover, or
    default_transaction_read_only): reads work, every write answers 503; ("unknown", why)
    when every pooled connection stayed in use for that second, so the server was not
    asked (a saturated pool, which the pool's own status reports); ("down", why) otherwise.
    A session found read-only may have begun before the database took writes again, so
    the pool replaces its sessions (db/pool.py found_read_only) and the question is asked
    once more, on a new one."""
    checkout = BoundedCheckout(db)

    async def ask() -> bool:
        async with checkout.session() as session:
            return await server.read_only(session)
    for _attempt in range(2):
        try:
            read_only = await asyncio.wait_for(ask(), PING_TIMEOUT_S)
        except TimeoutError:
            saturated = checkout.saturated(PING_TIMEOUT_S)
            if saturated:
                # Calling it down would turn load into an outage (unhealthy, 503) for whoever reads /full.
                return "unknown", saturated
            return "down", f"no answer within {PING_TIMEOUT_S:g} s"
        except ApiError as exc:
            return "down", exc.message
        if not read_only:
            return "ok", None
        await db.pool.found_read_only(at_once=True)
    return "read_only", "the database takes no writes (a standby, or default_transaction_read_only)"
