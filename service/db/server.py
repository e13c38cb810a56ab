"""Questions to the server itself: the one ping, and its connection limits."""
from __future__ import annotations

from service.db.registry import query

PING = query("health/ping")
BACKEND_PID = query("health/backend_pid")
READ_ONLY = query("health/read_only")
SERVER_CAPACITY = query("health/server_capacity")
SERVER_VERSION = query("health/server_version")
SESSION_SETTINGS = query("health/session_settings")


async def ping(session) -> None:
    """Raises unless the server answers on this session's connection."""
    await session.fetchval(PING)


async def read_only(session) -> bool:
    """The server answers, and takes no writes on this session (raises unless it answers)."""
    return bool(await session.fetchval(READ_ONLY))


async def capacity(session) -> dict:
    """max_connections, reserved slots and open client connections."""
    return dict(await session.fetchrow(SERVER_CAPACITY))


async def version(session) -> str:
    return await session.fetchval(SERVER_VERSION)
