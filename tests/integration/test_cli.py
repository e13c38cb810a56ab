"""The command line (docs/API.md section 1), through real `python run.py ...` subprocesses."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from dbutil import create_database, drop_database

from service.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


@pytest.fixture(scope="module")
def cli_database(pg_server):
    """A database of its own, so seeded rows never reach the other tests' database."""
    admin_url, _ = pg_server
    name = f"cj_cli_{secrets.token_hex(4)}"
    yield asyncio.run(create_database(admin_url, name, migrate=False))
    asyncio.run(drop_database(admin_url, name))


def _env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR", "PORT", "HOST", "WORKERS", "SECRET_KEY")
           and not k.startswith(("DB_", "CACHE_"))}
    env.update(VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", **extra)
    return env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


async def _fetch(url: str, sql: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


async def test_create_user_admin_then_login(cli_database, tmp_path, make_api, settings):
    email, password = f"cli-{secrets.token_hex(4)}@example.com", "cli-password-1"
    done = run_cli("create-user", "--email", email, "--password", password, "--admin", "--full-name", "Cli Admin",
                   env=_env(tmp_path, DATABASE_URL=cli_database))
    assert done.returncode == 0, done.stderr
    assert email in done.stdout
    api = await make_api(settings.replace(database_url=cli_database))
    body = await api.post("/api/auth/login", json={"email": email, "password": password}, expect=200)
    assert body["user"]["is_admin"] is True and body["user"]["full_name"] == "Cli Admin"

    again = run_cli("create-user", "--email", email.upper(), "--password", "another-password",
                    env=_env(tmp_path, DATABASE_URL=cli_database))
    assert again.returncode != 0
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    short = run_cli("create-user", "--email", "x" + email, "--password", "short",
                    env=_env(tmp_path, DATABASE_URL=cli_database))
    assert short.returncode != 0 and "8 characters" in short.stderr and "Traceback" not in short.stderr
    row = await _fetch(cli_database, "SELECT count(*) AS n FROM users WHERE lower(email) IN (lower($1), lower($2))",
                       email, "x" + email)
    assert row["n"] == 1


async def test_seed_loads_the_requested_counts(cli_database, tmp_path):
    email = f"seed-{secrets.token_hex(4)}@example.com"
    env = _env(tmp_path, DATABASE_URL=cli_database)
    assert run_cli("create-user", "--email", email, "--password", "seed-password", "--admin", env=env).returncode == 0
    done = run_cli("seed", "--clients", "2", "--projects", "3", "--posts", "50", "--owner-email", email, env=env)
    assert done.returncode == 0, done.stderr
    counts = await _fetch(cli_database, """
        SELECT (SELECT count(*) FROM clients WHERE owner_id = u.id) AS clients,
               (SELECT count(*) FROM projects WHERE owner_id = u.id) AS projects,
               (SELECT count(*) FROM runs WHERE owner_id = u.id) AS runs,
               (SELECT count(*) FROM posts WHERE owner_id = u.id) AS posts
        FROM users u WHERE u.email = $1""", email)
    assert dict(counts) == {"clients": 2, "projects": 3, "runs": 3, "posts": 50}
    unknown = run_cli("seed", "--posts", "1", "--owner-email", "nobody@example.com", env=env)
    assert unknown.returncode != 0 and "nobody@example.com" in unknown.stderr and "Traceback" not in unknown.stderr
    negative = run_cli("seed", "--posts", "-1", env=env)
    assert negative.returncode == 2 and "--posts" in negative.stderr


def test_bad_arguments_and_a_missing_database_are_one_clear_line(cli_database, tmp_path):
    env = _env(tmp_path, DATABASE_URL=cli_database)
    bad_email = run_cli("create-user", "--email", "not-an-email", "--password", "long-enough", env=env)
    assert bad_email.returncode != 0 and "email" in bad_email.stderr and "Traceback" not in bad_email.stderr
    no_clients = run_cli("seed", "--clients", "0", "--projects", "1", "--posts", "5", env=env)
    assert no_clients.returncode != 0 and "Traceback" not in no_clients.stderr
    assert "client" in no_clients.stderr
    missing = urlunsplit(urlsplit(cli_database)._replace(path="/cj_no_such_database"))
    done = run_cli("migrate", env=_env(tmp_path, DATABASE_URL=missing))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "cj_no_such_database" in done.stderr


@pytest.mark.parametrize("variable, value", [("DB_POOL_SIZE", "abc"), ("DB_MAX_OVERFLOW", "-1"), ("SECRET_KEY", "short"),
                                             ("CACHE_SHORT_TTL", "-5")])
def test_a_bad_setting_exits_2_with_one_line_naming_it(tmp_path, variable, value):
    done = run_cli("migrate", env=_env(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/x", **{variable: value}))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], done.stderr


def test_help_works_for_every_command(tmp_path):
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert {"serve", "migrate", "seed", "create-user", "db-url"} <= set(commands)
    for args in [["--help"], *([name, "--help"] for name in commands)]:
        done = run_cli(*args, env=_env(tmp_path))
        assert done.returncode == 0 and "usage:" in done.stdout, (args, done.stderr)
    assert not (tmp_path / "pgdata").exists()


def test_db_url_prints_the_url_and_migrate_is_idempotent(cli_database, tmp_path):
    env = _env(tmp_path, DATABASE_URL=cli_database)
    done = run_cli("db-url", env=env)
    assert done.returncode == 0 and done.stdout.strip() == cli_database
    run_cli("migrate", env=env)
    again = run_cli("migrate", env=env)
    assert again.returncode == 0 and "up to date" in again.stdout


# Clean shutdown of `python run.py` on the embedded server ------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as resp:
        return resp.status, json.loads(resp.read() or b"null")


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def _serve_until_ready(var_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = _env(var_dir, PORT=str(port))
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"run.py exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if _http("GET", f"http://127.0.0.1:{port}/api/health/live")[0] == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    pytest.fail(f"run.py did not come up: {log.read_text()[-2000:]}")


def _demo_admin_can_list_posts(var_dir: Path, port: int) -> str:
    creds = json.loads((var_dir / "demo_admin.json").read_text())
    status, login = _http("POST", f"http://127.0.0.1:{port}/api/auth/login", creds)
    assert status == 200 and login["user"]["is_admin"] is True
    status, posts = _http("GET", f"http://127.0.0.1:{port}/api/posts", token=login["access_token"])
    assert status == 200 and len(posts["items"]) > 0
    return creds["password"]


def _stop(process: subprocess.Popen, sig: int, pgdata: Path, log: Path) -> None:
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    process.send_signal(sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"run.py did not stop within 60 s of {signal.Signals(sig).name}: {log.read_text()[-2000:]}")
    deadline = time.monotonic() + 60
    while Path(f"/proc/{postmaster}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{postmaster}").exists(), "the embedded PostgreSQL outlived run.py"
    assert _processes_mentioning(str(pgdata)) == []
    assert not (pgdata / "postmaster.pid").exists()


def _serves_as_the_unprivileged_role(var_dir: Path, log: Path) -> None:
    """Issue 15 point 6 on the embedded default: it serves as content_jumpstart_app (no
    superuser, no DDL), migrated as content_jumpstart_owner, and its secrets are 0600."""
    import stat
    served = next(line.split("database: ", 1)[1].split()[0] for line in log.read_text().splitlines()
                  if "  database: " in line)
    assert urlsplit(served).username == "content_jumpstart_app"
    owner = run_cli("db-url", "--owner", env=_env(var_dir)).stdout.strip()
    assert urlsplit(owner).username == "content_jumpstart_owner"

    async def check():
        conn = await asyncpg.connect(served)
        try:
            assert not await conn.fetchval("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles "
                                           "WHERE rolname = current_user")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE intruder (id int)")
            assert await conn.fetchval("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'posts'") \
                == "content_jumpstart_owner"
        finally:
            await conn.close()
    asyncio.run(check())
    for name in ("secret_key", "demo_admin.json"):
        assert stat.S_IMODE((var_dir / name).stat().st_mode) == 0o600, name


@pytest.fixture
def var_dir():
    """A VAR_DIR outside pytest's tmp root: pytest keeps /tmp/pytest-of-<user> at mode 0700 (and
    resets it when any other session starts), which the embedded server's own user cannot traverse."""
    path = Path(tempfile.mkdtemp(prefix="cj-cli-serve-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_serve_on_embedded_postgres_stops_cleanly_and_keeps_its_data(var_dir):
    tmp_path = var_dir
    log = tmp_path / "serve.log"
    pgdata = tmp_path / "pgdata"
    port = _free_port()
    process = _serve_until_ready(tmp_path, port, log)
    try:
        password = _demo_admin_can_list_posts(tmp_path, port)
        _serves_as_the_unprivileged_role(tmp_path, log)
        _stop(process, signal.SIGINT, pgdata, log)
        port = _free_port()
        process = _serve_until_ready(tmp_path, port, log)
        # The second start reuses the data: the same demo admin, no new seed.
        assert _demo_admin_can_list_posts(tmp_path, port) == password
        _stop(process, signal.SIGTERM, pgdata, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for pid in _processes_mentioning(str(pgdata)):
            os.kill(pid, signal.SIGKILL)  # only servers this test started (their data is in its tmp_path)


def test_start_up_warns_when_the_pools_cannot_fit_max_connections(database_url):
    """serve prints this before serving; it uses /api/health/database's query and rule."""
    from service.cli.serve import _pool_capacity_warning
    from service.db.database import Database
    from service.settings import Settings

    async def check():
        async with Database.connect(database_url, Settings(database_url=database_url)) as db:
            async with db.session() as session:
                max_connections = int(await session.conn.fetchval("SHOW max_connections"))
            too_big = Settings(database_url=database_url, workers=2, db_pool_size=max_connections, db_max_overflow=0)
            small = Settings(database_url=database_url, workers=2, db_pool_size=2, db_max_overflow=2)
            return max_connections, await _pool_capacity_warning(db, too_big), await _pool_capacity_warning(db, small)

    max_connections, warning, fits = asyncio.run(check())
    assert warning is not None and f"max_connections {max_connections}" in warning
    assert fits is None
