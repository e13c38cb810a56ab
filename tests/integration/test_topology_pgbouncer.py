"""Everything through PgBouncer 1.18 in transaction mode (docs/API.md section 10):
`run.py migrate` and `run.py create-user`, and every endpoint family of the service
with DATABASE_URL through PgBouncer, DATABASE_DIRECT_URL direct and
DB_STATEMENT_CACHE_SIZE=0. The PgBouncer is a real process (conftest `pgbouncer`)."""
from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from conftest import Api
from dbutil import create_database, drop_database

from service import keys
from service.app import create_app
from service.db.pool import connect, session_settings
from service.settings import Settings
from service.topology.pgbouncer import database_of

ROOT = Path(__file__).resolve().parents[2]
STATEMENT_TIMEOUT_MS = 25000       # not the default: proves where the in-force value came from


@pytest.fixture
def bare_database(pg_server):
    """An empty database of its own (no migrations): `run.py migrate` through the topology builds it."""
    name = f"cj_bouncer_{secrets.token_hex(4)}"
    url = asyncio.run(create_database(pg_server[0], name, migrate=False))
    yield url
    asyncio.run(drop_database(pg_server[0], name))


def _env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "DB_", "CACHE_")) and k not in ("XDG_RUNTIME_DIR", "SECRET_KEY")}
    env.update(VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", **extra)
    return env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


async def test_commands_and_every_endpoint_family_work_through_pgbouncer_transaction_mode(
        bare_database, pgbouncer, tmp_path, aiohttp_client):
    bounced = pgbouncer.url(database_of(bare_database))
    env = _env(tmp_path, DATABASE_URL=bounced, DATABASE_DIRECT_URL=bare_database, DB_STATEMENT_CACHE_SIZE="0",
               DB_STATEMENT_TIMEOUT_MS=str(STATEMENT_TIMEOUT_MS))
    migrated = run_cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied: 0001_extensions.sql" in migrated.stdout
    email, password = f"bouncer-{secrets.token_hex(4)}@example.com", "bouncer-password-1"
    for args in (["--email", email, "--password", password, "--admin"],
                 ["--email", "second-" + email, "--password", password]):
        created = run_cli("create-user", *args, env=env)
        assert created.returncode == 0, created.stderr
    again = run_cli("migrate", env=env)
    assert again.returncode == 0 and "schema is up to date" in again.stdout, again.stderr

    settings = Settings(database_url=bounced, database_direct_url=bare_database, secret_key="bouncer-secret",
                        var_dir=tmp_path, db_pool_size=2, db_max_overflow=8, db_pool_timeout=5.0,
                        db_statement_cache_size=0, db_statement_timeout_ms=STATEMENT_TIMEOUT_MS)
    app = create_app(settings)
    api = Api(await aiohttp_client(app), bare_database)
    # PgBouncer refused the settings as startup parameters; the role defaults written by migrate apply.
    pool = app[keys.DB].pool
    assert pool.session["sent_at_startup"] is False
    assert pool.session["in_force"] == session_settings(settings), pool.session

    resp, token = await api.call("POST", "/api/auth/login", json={"email": email, "password": password}, expect=200)
    admin_headers = {"Authorization": f"Bearer {token['access_token']}"}
    user = await api.user()
    me = await api.get("/api/auth/me", user)
    assert me["email"] == user.email

    client = await api.client_of(user, name="Bounced Co")
    await api.patch(f"/api/clients/{client['id']}", user, json={"name": "Bounced Inc"})
    assert (await api.get(f"/api/clients/{client['id']}", user))["name"] == "Bounced Inc"
    project = await api.project_of(user, client["id"])
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "processing"})
    assert (await api.get(f"/api/projects/{project['id']}", user))["status"] == "processing"
    run = await api.post(f"/api/projects/{project['id']}/runs", user)
    await api.get(f"/api/runs/{run['id']}", user)
    assert (await api.get("/api/runs", user, params={"project_id": project["id"]}))["metadata"]["total"] == 1
    made = await api.posts_of(user, project["id"], 30, target_platform="linkedin")
    # Pages by number, then by cursor to the end: the same statements many times on
    # whichever server connection PgBouncer picks, with no prepared statement left behind.
    first = await api.get("/api/posts", user, params={"page_size": "7", "platform": "linkedin"})
    seen = [item["id"] for item in first["items"]]
    cursor = first["metadata"]["next_cursor"]
    while cursor:
        page = await api.get("/api/posts", user, params={"page_size": "7", "platform": "linkedin", "cursor": cursor})
        seen += [item["id"] for item in page["items"]]
        cursor = page["metadata"]["next_cursor"]
    assert sorted(seen) == sorted(post["id"] for post in made)
    await api.patch(f"/api/posts/{made[0]['id']}", user, json={"status": "flagged"})
    assert (await api.get(f"/api/posts/{made[0]['id']}", user))["status"] == "flagged"
    await api.delete(f"/api/posts/{made[1]['id']}", user)
    await api.get(f"/api/posts/{made[1]['id']}", user, expect=404)
    assert (await api.get("/api/clients", user, params={"search": "Bounced"}))["metadata"]["total"] == 1
    assert (await api.get("/api/projects", user, params={"status": "processing"}))["metadata"]["total"] == 1
    await api.delete(f"/api/projects/{project['id']}", user)
    await api.delete(f"/api/clients/{client['id']}", user)

    for path in ("/api/health", "/api/health/live", "/api/health/ready"):
        await api.get(path)
    for path in ("/api/health/database", "/api/health/database/events", "/api/health/cache",
                 "/api/health/profiling", "/api/health/full"):
        await api.get(path, headers=admin_headers)
    metrics = await api.client.get("/metrics")
    assert metrics.status == 200
    await api.call("POST", "/api/auth/logout", user, expect=204)
    # The cache's LISTEN went direct: its connection is a session of the server itself.
    assert app[keys.CACHE_FEED].connected.is_set()


async def test_statement_cache_size_zero_leaves_no_prepared_statement_on_the_server(pgbouncer, database_url,
                                                                                    settings):
    """DB_STATEMENT_CACHE_SIZE=0 is honoured by `connect` (commands and tests): through
    PgBouncer, the same statement run many times on one client connection never
    collides with a statement another client left on a shared server connection."""
    bounced = pgbouncer.url(database_of(database_url))
    zero = settings.replace(database_url=bounced, db_statement_cache_size=0)
    conns = [await connect(bounced, zero) for _ in range(3)]
    try:
        for _ in range(10):
            for conn in conns:
                assert await conn.fetchval("SELECT count(*) FROM pg_prepared_statements") == 0
                assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
    finally:
        for conn in conns:
            await conn.close()


async def test_migrations_take_no_session_lock_so_concurrent_starters_through_pgbouncer_agree(
        bare_database, pgbouncer, tmp_path):
    """Three `migrate` runs at once, all through PgBouncer (no direct URL at all): each
    file is applied exactly once and no advisory lock is left on any server session."""
    bounced = pgbouncer.url(database_of(bare_database))
    env = _env(tmp_path, DATABASE_URL=bounced, DB_STATEMENT_CACHE_SIZE="0")
    runs = await asyncio.gather(*(asyncio.to_thread(run_cli, "migrate", env=env) for _ in range(3)))
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr for r in runs]
    applied = [line for r in runs for line in r.stdout.splitlines() if line.startswith("applied:")]
    files = [name for line in applied for name in line.removeprefix("applied: ").split(", ")]
    assert len(files) == len(set(files)) and "0001_extensions.sql" in files
    conn = await asyncpg.connect(bare_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(files)
    finally:
        await conn.close()
