"""Scratch databases on the test server: create one, get its URL, drop it."""
from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from typing import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from service.db.migrations import apply_migrations


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def _admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(admin_url: str, name: str, *, migrate: bool) -> str:
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    url = with_database(admin_url, name)
    if migrate:
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()
    return url


async def drop_database(admin_url: str, name: str) -> None:
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def scratch_database(admin_url: str, prefix: str, *, migrate: bool = True) -> AsyncIterator[str]:
    """A new database (migrated unless told otherwise) for the block; dropped after it."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        yield await create_database(admin_url, name, migrate=migrate)
    finally:
        await drop_database(admin_url, name)
