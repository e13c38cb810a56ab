"""Whole databases on a server: create, drop, name. The one helper for the embedded
server, the test suite and the benchmark.

CREATE and DROP DATABASE take no parameters: the names are ours (never user
input) and are quoted as identifiers.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _on_server(admin_url: str, statement: str, *args) -> object:
    # One statement per connection: nothing to cache, and nothing left prepared on a
    # server connection PgBouncer may hand to someone else.
    conn = await asyncpg.connect(admin_url, statement_cache_size=0)
    try:
        return await conn.fetchval(statement, *args) if args else await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def server_lock(admin_url: str, key: int) -> AsyncIterator[None]:
    """Hold a session advisory lock on admin_url's database for the block: processes of
    ours setting one server up at once take turns. Closing the connection releases it."""
    conn = await asyncpg.connect(admin_url, statement_cache_size=0)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", key)
        yield
    finally:
        await conn.close()


async def database_exists(admin_url: str, name: str) -> bool:
    return bool(await _on_server(admin_url, "SELECT 1 FROM pg_database WHERE datname = $1", name))


async def create_database(admin_url: str, name: str, *, if_missing: bool = False, owner: str | None = None) -> str:
    """Create a database (or keep an existing one with if_missing), owned by `owner`
    (a role name of ours) or by the connecting role; its URL."""
    if not (if_missing and await database_exists(admin_url, name)):
        owned = f" OWNER {_identifier(owner)}" if owner else ""
        await _on_server(admin_url, f"CREATE DATABASE {_identifier(name)}{owned}")
    return with_database(admin_url, name)


async def _run_generated(url: str, query_name: str, *args) -> int:
    """Run the statements a roles/ query generates, as the role of `url`; how many."""
    from service.db.registry import query
    loaded = query(query_name)
    conn = await asyncpg.connect(url, statement_cache_size=0)
    try:
        statements = [r["statement"] for r in await conn.fetch(loaded.text, *args)]
        for statement in statements:
            await conn.execute(statement)
        return len(statements)
    finally:
        await conn.close()


async def roles_to_create(admin_url: str, owner: str, serving: str) -> int:
    """As a superuser: create the owner and serving roles that do not exist yet
    (sql/roles/embedded_create.sql)."""
    return await _run_generated(admin_url, "roles/embedded_create", owner, serving)


async def objects_to_owner(admin_database_url: str, owner: str) -> int:
    """As a superuser, in the service's database: hand it and what an earlier version
    created as the superuser to the owner role (sql/roles/embedded_adopt.sql)."""
    return await _run_generated(admin_database_url, "roles/embedded_adopt", owner)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop a database if it exists, disconnecting its sessions."""
    await _on_server(admin_url, f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")
