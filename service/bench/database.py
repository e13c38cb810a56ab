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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from service.db.admin import create_database, drop_database, with_database
from service.settings import Settings

ADMIN_EMAIL = "bench-admin@example.com"
OWNER_EMAIL = "bench-owner@example.com"   # a user (not an admin) who owns the seeded data
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
    owner_email: str = OWNER_EMAIL
    owner_password: str = ""


@contextmanager
def bench_server(settings: Settings, work_dir: Path) -> Iterator[str]:
    """The URL of an empty database that belongs to this benchmark run."""
    if settings.database_url:
        name = (urlsplit(settings.database_url).path.lstrip("/") or "postgres") + "_bench"
        admin_url = settings.database_url
        asyncio.run(_recreate(admin_url, name))
        try:
            yield with_database(admin_url, name)
        finally:
            asyncio.run(drop_database(admin_url, name))
        return
    from service.db.embedded import EmbeddedPostgres, ensure_database
    pg_dir = Path(tempfile.mkdtemp(prefix="cj-bench-pg-", dir=work_dir))
    server = EmbeddedPostgres(pg_dir / "pgdata", delete_on_stop=True).start()
    try:
        asyncio.run(ensure_database(server.uri("postgres")))
        yield server.uri()
    finally:
        server.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


async def _recreate(admin_url: str, name: str) -> None:
    await drop_database(admin_url, name)
    await create_database(admin_url, name)


async def prepare(url: str, settings: Settings, posts: int) -> SeededDatabase:
    """Migrate, create the admin the benchmark logs in as and the user who owns the data,
    seed `posts` posts, analyze; timed. The admin sees every row (its lists carry no
    owner); the owner's lists are the owner-scoped scenarios."""
    from service.auth.passwords import hash_password_async
    from service.db import server
    from service.db.database import Database
    from service.db.migrations import migrate
    from service.store import users
    from service.store.seed import analyze, seed

    password = secrets.token_urlsafe(12)
    async with Database.connect(url, settings) as db:
        await migrate(db)
        await users.insert(db, email=ADMIN_EMAIL, password_hash=await hash_password_async(password),
                           full_name="Bench Admin", is_admin=True)
        owner = await users.insert(db, email=OWNER_EMAIL, password_hash=await hash_password_async(password),
                                   full_name="Bench Owner", is_admin=False)
        report = await seed(db, owner_id=owner["id"], clients=CLIENTS, projects=PROJECTS, posts=posts)
        started = time.perf_counter()
        await analyze(db)
        analyze_seconds = time.perf_counter() - started
        async with db.session() as session:
            version = await server.version(session)
            max_connections = (await server.capacity(session))["max_connections"]
    return SeededDatabase(url, ADMIN_EMAIL, password, posts, report.seconds, analyze_seconds, version,
                          max_connections, OWNER_EMAIL, password)


async def sample_post_ids(url: str, count: int) -> list[str]:
    """Some existing post ids (any, not random)."""
    from service.store import posts
    async with _database(url) as db:
        return await posts.sample_ids(db, count)


async def post_contents(url: str, ids: list[str]) -> dict[str, str]:
    """id -> content of the given posts as the database has them now."""
    from service.store import posts
    async with _database(url) as db:
        return await posts.contents_of(db, ids)


def _database(url: str):
    from service.db.database import Database
    from service.settings import Settings
    return Database.connect(url, Settings(database_url=url, secret_key="bench-fixtures"))


async def seed_tenants(url: str, tenants: int, posts_each: int) -> list[tuple[str, str]]:
    """`tenants` users (not admins), each owning one client, two projects and `posts_each`
    posts of their own; their (email, password). Through the same COPY path as `run.py seed`."""
    from service.auth.passwords import hash_password_async
    from service.store import users
    from service.store.seed import analyze, seed

    password = secrets.token_urlsafe(12)
    password_hash = await hash_password_async(password)
    credentials = []
    async with _database(url) as db:
        for n in range(tenants):
            email = f"bench-tenant-{n + 1}-{secrets.token_hex(3)}@example.com"
            user = await users.insert(db, email=email, password_hash=password_hash, full_name=f"Tenant {n + 1}",
                                      is_admin=False)
            await seed(db, owner_id=user["id"], clients=1, projects=2, posts=posts_each, seed_value=n,
                       show_progress=False)
            credentials.append((email, password))
        await analyze(db)
    return credentials
