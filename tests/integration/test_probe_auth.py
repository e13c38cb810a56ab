"""Probes of authentication, accounts and the API description (probe-auth): answers the
handlers really give that the OpenAPI document must name, and races of a login with
the deletion of its account."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest
from busy import api_with_busy_route
from conftest import Api

from service.api.openapi import document
from service.api.routes import ROUTES


@pytest.fixture
def build(aiohttp_client, database_url):
    async def make(custom) -> Api:
        return await api_with_busy_route(aiohttp_client, database_url, custom)
    return make


def _documented(method: str, path: str) -> dict:
    return document()["paths"][path][method.lower()]["responses"]


async def _wait_for_lock_wait(conn: asyncpg.Connection, what: str) -> None:
    """Until some other session waits for a lock (the request under test reached it)."""
    for _ in range(200):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            " AND datname = current_database()")
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} never waited for the lock")


# -- 429 of a user's database share (DB_USER_CONCURRENCY): every route that runs SQL for a user --

async def _wait_for_share_held(conn: asyncpg.Connection) -> None:
    """Until /test/busy's query runs (the holder has the user's one session)."""
    for _ in range(200):
        if await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                               " AND query LIKE 'SELECT pg_sleep(%' AND datname = current_database()"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the holder never took its session")


async def test_a_user_over_their_database_share_gets_a_documented_429_on_routes_without_a_body(build, settings,
                                                                                                db_conn):
    """Any user route that runs a query after the token may answer 429 when the user's
    DB_USER_CONCURRENCY sessions stay busy past DB_POOL_TIMEOUT (db/fairness.py). The
    document listed 429 only on GETs and body-taking routes: a DELETE, logout or a job
    cancel answered a 429 it did not name."""
    api = await build(settings.replace(db_pool_size=4, db_max_overflow=0, db_user_concurrency=1,
                                       db_pool_timeout=0.3, cache_enabled=False))
    user = await api.user()
    project = await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1))[0]
    client = await api.client_of(user)
    calls = [("DELETE", "/api/posts/{id}", post["id"]), ("DELETE", "/api/clients/{id}", client["id"]),
             ("DELETE", "/api/projects/{id}", project["id"]), ("POST", "/api/jobs/{id}/cancel", project["id"]),
             ("POST", "/api/auth/logout", None)]
    for method, path, object_id in calls:
        holder = asyncio.create_task(api.call("GET", "/test/busy?s=1.5", user))
        await _wait_for_share_held(db_conn)
        resp, body = await api.call(method, path.replace("{id}", object_id or ""), user)
        assert resp.status == 429, (method, path, resp.status, body)
        assert body["error"]["code"] == "too_many_requests" and resp.headers["Retry-After"] == "1"
        assert (await holder)[0].status == 200
        responses = _documented(method, path)
        assert "429" in responses, f"{method} {path} answers 429 but the document does not say so"
        assert "Retry-After" in responses["429"]["headers"]
        assert "DB_USER_CONCURRENCY" in responses["429"]["description"]


def test_every_route_that_runs_sql_for_a_user_documents_the_429_of_its_share():
    no_user_sql = {("POST", "/api/health/cache/clear"), ("POST", "/api/health/cache/reset-stats"),
                   ("GET", "/api/health/cache"), ("GET", "/api/health/profiling"),
                   ("GET", "/api/health/profiling/queries"), ("GET", "/api/health/profiling/slow-queries"),
                   ("POST", "/api/health/profiling/reset"),
                   ("GET", "/api/auth/me")}        # the token's lookup takes none of the user's sessions
    for route in ROUTES:
        if route.auth in ("user", "admin", "admin_or_metrics") and (route.method, route.path) not in no_user_sql:
            responses = _documented(route.method, route.path)
            assert "429" in responses and "DB_USER_CONCURRENCY" in responses["429"]["description"], \
                (route.method, route.path)


# -- a parent, or the account itself, deleted while a request that names it runs --

async def test_a_login_whose_account_is_deleted_meanwhile_is_401_not_409(api, db_conn, database_url):
    """The account is read, its password checked, then its token inserted: a deletion
    committed in between made the token's foreign key fail, answered 409 "an object this
    request refers to no longer exists", which login does not document and which says
    the account existed. It is the answer for an unknown account: 401."""
    user = await api.user()
    deleter = await asyncpg.connect(database_url)
    try:
        tx = deleter.transaction()
        await tx.start()
        await deleter.execute("DELETE FROM users WHERE id = $1::uuid", user.id)   # not yet committed
        login = asyncio.create_task(api.call("POST", "/api/auth/login",
                                             json={"email": user.email, "password": "password-123"}))
        await _wait_for_lock_wait(db_conn, "the login's token insert")
        await tx.commit()
        resp, body = await login
    finally:
        await deleter.close()
    assert resp.status == 401, body
    assert body["error"] == {"status": 401, "code": "unauthorized", "message": "email or password is wrong"}
    assert await db_conn.fetchval("SELECT count(*) FROM access_tokens WHERE user_id = $1::uuid", user.id) == 0


async def test_a_create_whose_parent_is_deleted_meanwhile_answers_a_documented_409(api, db_conn, database_url):
    user = await api.user()
    client = await api.client_of(user)
    deleter = await asyncpg.connect(database_url)
    try:
        tx = deleter.transaction()
        await tx.start()
        await deleter.execute("DELETE FROM clients WHERE id = $1::uuid", client["id"])   # not yet committed
        create = asyncio.create_task(api.call("POST", "/api/projects", user,
                                              json={"client_id": client["id"], "name": "Launch"}))
        await _wait_for_lock_wait(db_conn, "the project's insert")
        await tx.commit()
        resp, body = await create
    finally:
        await deleter.close()
    assert resp.status == 409 and body["error"]["code"] == "conflict", body
    assert "409" in _documented("POST", "/api/projects"), "POST /api/projects answers 409 but the document does not say so"


def test_every_write_that_names_a_parent_documents_409():
    for method, path in [("POST", "/api/clients"), ("POST", "/api/projects"), ("PATCH", "/api/projects/{id}"),
                         ("POST", "/api/projects/{id}/runs"), ("POST", "/api/posts"), ("PATCH", "/api/posts/{id}"),
                         ("POST", "/api/projects/{id}/exports"), ("POST", "/api/projects/{id}/reports")]:
        assert "409" in _documented(method, path), (method, path)


# -- how many tokens one account may hold --

async def test_one_account_holds_a_bounded_number_of_tokens(api, db_conn):
    """Every login stored one more token until its TTL (a week), and successful logins are
    not throttled: one client logging in in a loop (about 40 a second here) grew
    access_tokens by some 11 GB a week. A login that makes the account hold more than
    MAX_TOKENS_PER_USER revokes the oldest, keeping the newest TOKENS_KEPT, the login's own
    among them; a revoked token is refused at once, also where it was cached."""
    from service.auth.tokens import MAX_TOKENS_PER_USER, TOKENS_KEPT, new_token
    user = await api.user()                                          # holds one token already
    oldest = user.token
    await api.get("/api/auth/me", user)                              # cached by this worker
    await db_conn.executemany(      # newer than the user's first token, older than the next login's
        "INSERT INTO access_tokens (token_hash, user_id, created_at, expires_at)"
        " VALUES ($1, $2::uuid, clock_timestamp(), now() + interval '1 day')",
        [(new_token()[1], user.id) for _ in range(MAX_TOKENS_PER_USER - 1)])
    assert await db_conn.fetchval("SELECT count(*) FROM access_tokens WHERE user_id = $1::uuid",
                                  user.id) == MAX_TOKENS_PER_USER
    await api.call("POST", "/api/auth/login", json={"email": user.email, "password": "password-123"}, expect=200)
    held = await db_conn.fetchval("SELECT count(*) FROM access_tokens WHERE user_id = $1::uuid", user.id)
    assert held == TOKENS_KEPT
    resp, body = await api.call("GET", "/api/auth/me", headers={"Authorization": f"Bearer {oldest}"})
    assert resp.status == 401, body
    newest = (await api.post("/api/auth/login", json={"email": user.email, "password": "password-123"},
                             expect=200))["access_token"]
    await api.call("GET", "/api/auth/me", headers={"Authorization": f"Bearer {newest}"}, expect=200)
    assert await db_conn.fetchval("SELECT count(*) FROM access_tokens WHERE user_id = $1::uuid",
                                  user.id) == TOKENS_KEPT + 1          # below the bound: nothing revoked


# -- error answers whose body is not the error envelope --

def _conforms(body, method: str, path: str, status: int) -> None:
    """Validate an answer's body against the document's schema for that status."""
    import jsonschema
    doc = document()
    schema = doc["paths"][path][method.lower()]["responses"][str(status)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": doc["components"]}).validate(body)


async def test_the_unhealthy_503_of_health_full_is_the_report_the_document_describes(api, database_url):
    """GET /api/health/full answers 503 with its whole report (status unhealthy, checks),
    not the error envelope; the document said every 503 is the envelope."""
    from service import keys as app_keys
    admin = await api.user(admin=True)
    await api.get("/api/health/full", admin)
    pool = api.client.app[app_keys.DB].pool
    pool.raw.set_connect_args(dsn="postgresql://nobody@127.0.0.1:1/none")
    await pool.raw.expire_connections()
    try:
        _, body = await api.call("GET", "/api/health/full", admin, expect=503)   # the token itself is cached
    finally:
        pool.raw.set_connect_args(dsn=database_url)
    assert body["status"] == "unhealthy" and "error" not in body
    _conforms(body, "GET", "/api/health/full", 503)
    # the envelope is still an answer of its 503 (a pool exhausted before the report)
    _conforms({"error": {"status": 503, "code": "pool_exhausted", "message": "m"}, "request_id": "r"},
              "GET", "/api/health/full", 503)


async def test_the_location_of_a_new_or_repeated_job_is_in_the_document(api):
    """exports and reports answer 202 (or 200 for a repeated Idempotency-Key) with a
    Location naming the job (docs/API.md section 8); the document named no header."""
    user = await api.user()
    project = await api.project_of(user)
    for kind in ("exports", "reports"):
        path = f"/api/projects/{project['id']}/{kind}"
        for status in (202, 200):
            resp, body = await api.call("POST", path, user, expect=status, json={},
                                        headers={"Idempotency-Key": f"probe-{kind}"})
            assert resp.headers["Location"] == f"/api/jobs/{body['id']}"
            documented = _documented("POST", f"/api/projects/{{id}}/{kind}")[str(status)]
            assert "Location" in documented.get("headers", {}), (kind, status)


async def test_the_documented_page_bound_is_the_one_the_service_enforces(api):
    """page is served up to 2**53 - 1 (pagination/page_request.py, docs/API.md section 5);
    the document said 2**31 - 1, so page=2147483648 was a 'schema-violating' request the
    service answered 200."""
    from service.pagination.page_request import MAX_PAGE
    user = await api.user()
    await api.get(f"/api/clients?page={2**31}", user)
    await api.call("GET", f"/api/clients?page={MAX_PAGE + 1}", user, expect=400)
    for route in ROUTES:
        if route.paginated:
            parameters = document()["paths"][route.path]["get"]["parameters"]
            page = next(p for p in parameters if p["name"] == "page")
            assert page["schema"]["maximum"] == MAX_PAGE, route.path


# -- WORKERS=2: a supervisor that dies without stopping its workers --

def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may never be reaped in a container)."""
    from pathlib import Path
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_stop_when_their_supervisor_is_killed(database_url, tmp_path):
    """A supervisor killed with SIGKILL (the OOM killer, kill -9, a container runtime) left
    its workers serving the port for ever; with SO_REUSEPORT a restarted service then
    shared it with them, and callers were answered by the old code at random (seen while
    probing: the document of a restarted service came from a worker 12 minutes old).
    Each worker now asks Linux for SIGTERM when its supervisor dies."""
    import os
    import signal
    import urllib.error

    from live import served, wait_until
    with served(database_url, tmp_path, WORKERS="2") as service:
        pids: set[int] = set()

        def both_answered() -> bool:
            # The second worker may still be starting: the kernel spreads new connections
            # only over the sockets already listening.
            pids.update(service.call("GET", "/api/health")[1]["worker"]["pid"] for _ in range(20))
            return len(pids) == 2
        wait_until(both_answered, "both workers answering")
        assert service.process.pid not in pids and all(_running(pid) for pid in pids)
        os.kill(service.process.pid, signal.SIGKILL)
        service.process.wait(10)
        try:
            wait_until(lambda: not any(_running(pid) for pid in pids), "the workers to stop", timeout=20)
        finally:
            for pid in pids:           # do not leave them serving if the assertion failed
                if _running(pid):
                    os.kill(pid, signal.SIGKILL)

        def refused() -> bool:
            try:
                service.call("GET", "/api/health/live", timeout=2)
            except urllib.error.URLError:
                return True
            return False
        assert refused(), "something still answers on the port"
