"""Health probes over the database, each bounded by a timeout: does it answer, and
how many connections does it allow."""
from __future__ import annotations

import asyncio

from service.db import server
from service.db.database import Database
from service.errors import ApiError

PING_TIMEOUT_S = 1.0


async def server_capacity(db: Database) -> dict | None:
    """max_connections, reserved slots and open connections, or None when the server cannot say."""
    async def ask() -> dict:
        async with db.session() as session:
            return await server.capacity(session)
    try:
        return await asyncio.wait_for(ask(), PING_TIMEOUT_S)
    except (TimeoutError, ApiError):
        return None


async def database_problem(db: Database) -> str | None:
    """None when a ping answers within a second, else why not."""
    async def ping() -> None:
        async with db.session() as session:
            await server.ping(session)
    try:
        await asyncio.wait_for(ping(), PING_TIMEOUT_S)
    except TimeoutError:
        return f"no answer within {PING_TIMEOUT_S:g} s"
    except ApiError as exc:
        return exc.message
    return None
