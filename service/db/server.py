"""Questions to the server itself: the one ping, and its connection limits."""
from __future__ import annotations

from service.db.registry import query

PING = query("health/ping")
BACKEND_PID = query("health/backend_pid")
SERVER_CAPACITY = query("health/server_capacity")
SERVER_VERSION = query("health/server_version")
SESSION_SETTINGS = query("health/session_settings")


async def ping(session) -> None:
    """Raises unless the server answers on this session's connection."""
    await session.fetchval(PING)


async def capacity(session) -> dict:
    """max_connections, reserved slots and open client connections."""
    return dict(await session.fetchrow(SERVER_CAPACITY))


async def version(session) -> str:
    return await session.fetchval(SERVER_VERSION)
