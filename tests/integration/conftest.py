"""Test fixtures: a real PostgreSQL for the whole session, a fresh database, the app.

The server is TEST_DATABASE_URL when set (its role must be allowed to create
databases), otherwise an embedded PostgreSQL in a temporary directory, deleted at
the end. Either way the suite runs in a database of its own, created and migrated
once per session, and dropped at the end.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from dbutil import fresh_database

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pg_server():
    """(admin URI of a PostgreSQL server, embedded server handle or None)."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external, None
        return
    from service.db.embedded import EmbeddedPostgres
    workdir = Path(tempfile.mkdtemp(prefix="cj-test-"))
    server = EmbeddedPostgres(workdir / "pgdata", delete_on_stop=True).start()
    try:
        yield server.uri("postgres"), server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(pg_server):
    """A fresh, migrated database for this test session."""
    admin_url, _ = pg_server
    with fresh_database(admin_url, "cj_test") as url:
        yield url


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    # No job worker unless a test asks for one (tests/integration/test_jobs*.py): a
    # worker's background queries would blur the pool and profiling counts others check.
    # Every test client connects from 127.0.0.1 into one database per session: failed logins
    # and registrations of unrelated tests must not add up to a 429 (test_login_throttle.py
    # and test_password_work.py use addresses of their own).
    return Settings(database_url=database_url, secret_key="test-secret-key", var_dir=tmp_path,
                    db_pool_size=2, db_max_overflow=8, db_pool_timeout=5.0, jobs_worker=False,
                    login_max_failures=1000, register_max_per_address=1_000_000)


@pytest.fixture
async def db_conn(database_url):
    """A direct connection, for arranging data and checking outcomes in SQL."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@dataclass
class ApiUser:
    id: str
    email: str
    token: str
    is_admin: bool

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """The aiohttp test client plus helpers for users and common objects."""

    def __init__(self, client, database_url: str) -> None:
        self.client = client
        self.database_url = database_url

    async def user(self, *, admin: bool = False, password: str = "password-123") -> ApiUser:
        email = f"user-{secrets.token_hex(5)}@example.com"
        resp = await self.client.post("/api/auth/register", json={"email": email, "password": password})
        assert resp.status == 201, await resp.text()
        user_id = (await resp.json())["id"]
        if admin:
            conn = await asyncpg.connect(self.database_url)
            try:
                await conn.execute("UPDATE users SET is_admin = true WHERE id = $1::uuid", user_id)
            finally:
                await conn.close()
        resp = await self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert resp.status == 200, await resp.text()
        return ApiUser(user_id, email, (await resp.json())["access_token"], admin)

    async def call(self, method: str, path: str, user: ApiUser | None = None, expect: int | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if user is not None:
            headers.update(user.headers)
        resp = await self.client.request(method, path, headers=headers, **kwargs)
        body = await resp.read()
        data = None
        if body and resp.content_type == "application/json":
            data = await resp.json()
        if expect is not None:
            assert resp.status == expect, f"{method} {path}: {resp.status} {body[:500]!r}"
        return resp, data

    async def get(self, path, user=None, expect=200, **kw):
        return (await self.call("GET", path, user, expect, **kw))[1]

    async def post(self, path, user=None, expect=201, **kw):
        return (await self.call("POST", path, user, expect, **kw))[1]

    async def patch(self, path, user=None, expect=200, **kw):
        return (await self.call("PATCH", path, user, expect, **kw))[1]

    async def delete(self, path, user=None, expect=204, **kw):
        return (await self.call("DELETE", path, user, expect, **kw))[1]

    async def client_of(self, user: ApiUser, **fields) -> dict:
        return await self.post("/api/clients", user, json={"name": "Acme", **fields})

    async def project_of(self, user: ApiUser, client_id: str | None = None, **fields) -> dict:
        if client_id is None:
            client_id = (await self.client_of(user))["id"]
        return await self.post("/api/projects", user, json={"client_id": client_id, "name": "Launch", **fields})

    async def posts_of(self, user: ApiUser, project_id: str, count: int, **fields) -> list[dict]:
        items = [{"project_id": project_id, "content": f"post number {i}", **fields} for i in range(count)]
        return (await self.post("/api/posts", user, json={"items": items}))["items"]


@pytest.fixture
async def api(aiohttp_client, settings, database_url) -> Api:
    client = await aiohttp_client(create_app(settings))
    return Api(client, database_url)


@pytest.fixture
def make_api(aiohttp_client, database_url):
    """Build a client for an app with adjusted settings: `await make_api(settings.replace(...))`.

    An app with a job worker first deletes the unfinished jobs earlier tests left in the
    shared database (their apps run no worker): its worker would run them, and a test that
    counts the messages its SMTP server got would count another test's notice."""
    test_started = time.time()

    async def build(custom: Settings) -> Api:
        if custom.jobs_worker:
            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute("DELETE FROM jobs WHERE finished_at IS NULL AND created_at < to_timestamp($1)",
                                   test_started)
            finally:
                await conn.close()
        return Api(await aiohttp_client(create_app(custom)), database_url)
    return build


# -- topology (issue 9): PgBouncer in transaction mode in front of the session's server --

@pytest.fixture(scope="session")
def pgbouncer(pg_server):
    """A PgBouncer (transaction mode) process in front of the test server, for the session.
    Run as the server's unprivileged account when we are root (PgBouncer refuses root)."""
    from topology import require_pgbouncer

    from service.topology.pgbouncer import PgBouncer, account_for
    require_pgbouncer()
    admin_url, server = pg_server
    run_as = account_for(server.system_user if server is not None else None)
    workdir = Path(tempfile.mkdtemp(prefix="cj-pgbouncer-"))
    bouncer = PgBouncer(admin_url, workdir, run_as=run_as).start()
    try:
        yield bouncer
    finally:
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def streaming_standby(pg_server, prefix: str) -> Iterator:
    """A streaming standby of the embedded server (service/topology/standby.py), made with
    pg_basebackup -R and started as the server's account; destroyed on leaving."""
    admin_url, server = pg_server
    if server is None:
        pytest.skip("a standby is made from the embedded server; TEST_DATABASE_URL is external")
    from service.topology.standby import Standby
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    replica = Standby(admin_url, workdir, run_as=server.system_user)
    try:
        replica.create().start().wait_streaming()
        yield replica
    finally:
        replica.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


async def replay_everything(standby, database_url: str) -> None:
    """Until `standby` has replayed everything the primary has written so far."""
    conn = await asyncpg.connect(database_url)
    try:
        lsn = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
    finally:
        await conn.close()
    await asyncio.to_thread(standby.wait_for_lsn, lsn)


@pytest.fixture(scope="session")
def standby(pg_server):
    """A streaming standby of the session's embedded server, for the session. Tests may
    pause its replay or stop it; they leave it streaming and replaying."""
    with streaming_standby(pg_server, "cj-standby-") as replica:
        yield replica
