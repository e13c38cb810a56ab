"""Scratch databases on the test server: the db layer's helper, plus migration."""
from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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


@asynccontextmanager
async def scratch_database(admin_url: str, prefix: str, *, migrate: bool = True) -> AsyncIterator[str]:
    """A new database (migrated unless told otherwise) for the block; dropped after it."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        yield await create_database(admin_url, name, migrate=migrate)
    finally:
        await drop_database(admin_url, name)
