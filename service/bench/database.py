"""The benchmark's own database, seeded through the same COPY path as `run.py seed`.

Embedded PostgreSQL in a fresh temporary directory (deleted afterwards) by
default; with DATABASE_URL, a separate database `<name>_bench` created on that
server and dropped afterwards. Never the user's ./var data or their database.
"""
from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ..settings import Settings

ADMIN_EMAIL = "bench-admin@example.com"
CLIENTS, PROJECTS = 10, 50          # run.py seed's defaults


@dataclass(frozen=True)
class SeededDatabase:
    url: str
    admin_email: str
    admin_password: str
    posts: int
    seed_seconds: float          # COPY of clients, projects, runs and posts
    analyze_seconds: float       # VACUUM (ANALYZE) afterwards, as run.py seed does
    server_version: str
    max_connections: int


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@contextmanager
def bench_server(settings: Settings, work_dir: Path) -> Iterator[str]:
    """The URL of an empty database that belongs to this benchmark run."""
    if settings.database_url:
        name = (urlsplit(settings.database_url).path.lstrip("/") or "postgres") + "_bench"
        admin_url = settings.database_url
        asyncio.run(_recreate(admin_url, name))
        try:
            yield _with_database(admin_url, name)
        finally:
            asyncio.run(_drop(admin_url, name))
        return
    from ..db.embedded import EmbeddedPostgres, ensure_database
    pg_dir = Path(tempfile.mkdtemp(prefix="cj-bench-pg-", dir=work_dir))
    server = EmbeddedPostgres(pg_dir / "pgdata", delete_on_stop=True).start()
    try:
        asyncio.run(ensure_database(server.uri("postgres")))
        yield server.uri()
    finally:
        server.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


async def _recreate(admin_url: str, name: str) -> None:
    await _drop(admin_url, name)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')     # our fixed name, quoted as an identifier
    finally:
        await conn.close()


async def _drop(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def prepare(url: str, settings: Settings, posts: int) -> SeededDatabase:
    """Migrate, create the admin the benchmark logs in as, seed `posts` posts, analyze; timed."""
    from ..auth import hash_password_async
    from ..db.migrations import apply_migrations
    from ..db.pool import connect
    from ..db.registry import load_registry, query
    from ..seed import seed, analyze

    insert_user = query("users/insert")
    load_registry()
    password = secrets.token_urlsafe(12)
    conn = await connect(url, settings)
    try:
        await apply_migrations(conn)
        admin = await conn.fetchrow(insert_user.text, ADMIN_EMAIL, await hash_password_async(password),
                                    "Bench Admin", True)
        report = await seed(conn, owner_id=admin["id"], clients=CLIENTS, projects=PROJECTS, posts=posts)
        started = time.perf_counter()
        await analyze(conn)
        analyze_seconds = time.perf_counter() - started
        version = await conn.fetchval("SHOW server_version")
        max_connections = int(await conn.fetchval("SHOW max_connections"))
    finally:
        await conn.close()
    return SeededDatabase(url, ADMIN_EMAIL, password, posts, report.seconds, analyze_seconds, version,
                          max_connections)


async def sample_post_ids(url: str, count: int) -> list[str]:
    """Some existing post ids (any, not random: ORDER BY random() costs seconds at 1M rows)."""
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id::text AS id FROM posts LIMIT $1", count)]
    finally:
        await conn.close()


async def post_contents(url: str, ids: list[str]) -> dict[str, str]:
    """id -> content of the given posts as the database has them now."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id::text AS id, content FROM posts WHERE id = ANY($1::uuid[])", ids)
    finally:
        await conn.close()
    return {r["id"]: r["content"] for r in rows}
