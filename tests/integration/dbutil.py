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


# One client and project of an owner, and `$2` posts of it, five per created_at.
ONE_PROJECTS_POSTS = """
WITH client AS (
    INSERT INTO clients (owner_id, name) VALUES ($1, 'client') RETURNING id
), project AS (
    INSERT INTO projects (owner_id, client_id, name) SELECT $1, client.id, 'project' FROM client RETURNING id
)
INSERT INTO posts (owner_id, project_id, content, word_count, has_cta, status, flags, created_at)
SELECT $1, project.id, 'post ' || g, 2, g % 2 = 0, 'approved', ARRAY[]::text[],
       timestamptz '2022-01-01 00:00:00+00' + (g / 5) * interval '1 millisecond'
FROM project, generate_series(1, $2) AS g
"""
