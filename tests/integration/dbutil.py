"""Scratch databases on the test server: the db layer's helper, plus migration."""
from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg

from service.db import admin
from service.db.admin import drop_database, with_database  # noqa: F401 - re-exported for the tests
from service.db.migrations import apply_migrations


async def create_database(admin_url: str, name: str, *, migrate: bool) -> str:
    url = await admin.create_database(admin_url, name)
    if migrate:
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()
    return url


@contextmanager
def fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new migrated database for the block, from synchronous code (fixtures); dropped after it."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    url = asyncio.run(create_database(admin_url, name, migrate=True))
    try:
        yield url
    finally:
        asyncio.run(drop_database(admin_url, name))


@asynccontextmanager
async def scratch_database(admin_url: str, prefix: str, *, migrate: bool = True) -> AsyncIterator[str]:
    """A new database (migrated unless told otherwise) for the block; dropped after it."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        yield await create_database(admin_url, name, migrate=migrate)
    finally:
        await drop_database(admin_url, name)
