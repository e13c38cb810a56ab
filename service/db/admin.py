"""Whole databases on a server: create, drop, name. The one helper for the embedded
server, the test suite and the benchmark.

CREATE and DROP DATABASE take no parameters: the names are ours (never user
input) and are quoted as identifiers.
"""
from __future__ import annotations

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


async def database_exists(admin_url: str, name: str) -> bool:
    return bool(await _on_server(admin_url, "SELECT 1 FROM pg_database WHERE datname = $1", name))


async def create_database(admin_url: str, name: str, *, if_missing: bool = False) -> str:
    """Create a database (or keep an existing one with if_missing); its URL."""
    if not (if_missing and await database_exists(admin_url, name)):
        await _on_server(admin_url, f"CREATE DATABASE {_identifier(name)}")
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop a database if it exists, disconnecting its sessions."""
    await _on_server(admin_url, f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")
