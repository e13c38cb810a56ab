"""Operations surfaces under faults and hostile input: what the health endpoints, the pool's
counters and the logs report must be true (probe-ops)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import urlsplit

import asyncpg
from cdp import Chromium
from conftest import Api
from dbutil import fresh_database
from jobutil import wait_job
from live import require_tool, served
from rawhttp import answers, exchange, serving_on_a_port
from status_page import open_sign_in, sign_in
from topology import PartitionProxy

from service import keys
from service.app import create_app
from service.db.pool import CONNECT_TIMEOUT_S, PRE_PING_TIMEOUT_S
from service.topology.pgbouncer import database_of

SCRAPER = "scrape-" + "p" * 32


async def test_a_database_that_takes_no_new_connection_is_unavailable_not_an_exhausted_pool(
        pg_server, database_url, settings, aiohttp_client):
    """A partition (bytes stop, nothing closes): the pool's idle connection fails its pre-ping
    and the replacement's connect gives up after CONNECT_TIMEOUT_S. That TimeoutError was
    taken for the pool's own DB_POOL_TIMEOUT: answered 503 `pool_exhausted` "no database
    connection became free within 30 s" after 12 s, counted in acquire_timeouts (the
    PoolAcquireTimeouts alert, "raise DB_POOL_SIZE") while the pool was empty and no request
    waited for another's connection."""
    proxy = await PartitionProxy(pg_server[0]).start()
    try:
        url = proxy.url(database_of(database_url))
        pool_timeout = CONNECT_TIMEOUT_S + PRE_PING_TIMEOUT_S + 15.0     # the pool's deadline is not what ends it
        custom = settings.replace(database_url=url, database_direct_url=url, db_pool_size=1, db_max_overflow=0,
                                  db_pool_timeout=pool_timeout, metrics_token=SCRAPER)
        client = await aiohttp_client(create_app(custom))
        api = Api(client, database_url)
        scraper = {"Authorization": f"Bearer {SCRAPER}"}
        await api.get("/api/health/jobs", headers=scraper)
        events = client.server.app[keys.DB].pool.events
        await asyncio.sleep(1.1)                 # idle past PRE_PING_AFTER_IDLE_S: the next checkout pings
        proxy.partition()
        started = time.monotonic()
        resp, body = await api.call("GET", "/api/health/jobs", headers=scraper)
        elapsed = time.monotonic() - started
        assert resp.status == 503, body
        assert resp.headers.get("Retry-After")
        assert elapsed < pool_timeout, elapsed
        assert body["error"]["code"] == "database_unavailable", body
        assert events.acquire_timeouts == 0
        assert events.acquire_errors >= 1
        report = await api.get("/api/health/database", headers=scraper)
        assert not any("DB_POOL_TIMEOUT" in r["message"] for r in report["recommendations"]), report
    finally:
        await proxy.stop()


FORGED = "2026-12-07 06:00:00,000 INFO [1] service.access: method=GET route=/api/health status=200"


async def test_an_unhandled_error_logs_no_line_the_client_wrote(settings, aiohttp_client, caplog):
    """The 500's log line quoted request.path, which is percent-decoded: a path with %0A
    wrote a forged line into a text log (the same for the retry after a lost connection).
    The line names the route template, as the access log does, and the request id."""
    async def boom(_request):
        raise RuntimeError("a bug")
    app = create_app(settings)
    app.router.add_get(r"/probe-ops/boom/{anything:[\s\S]*}", boom)
    client = await aiohttp_client(app)
    resp = await client.get("/probe-ops/boom/x%0D%0A" + FORGED.replace(" ", "%20"))
    assert resp.status == 500
    request_id = resp.headers["X-Request-ID"]
    lines = [r.getMessage() for r in caplog.records if r.name == "service.web"]
    assert any(request_id in line and "/probe-ops/boom/{anything}" in line for line in lines), lines
    assert not any("\n" in line or "\r" in line or "forged" in line or "service.access" in line
                   for line in lines), lines


async def test_requests_the_connection_handler_refuses_are_counted_and_logged(settings, caplog):
    """A malformed request (400) and one whose headers never finish (408) are answered by the
    connection handler (http/protocol.py handle_error), before the middleware: they were in
    neither cj_http_requests_total nor the access log, so a flood of them showed nowhere but
    in one INFO line each on service.http.protocol."""
    caplog.set_level(logging.INFO, logger="service.access")
    async with serving_on_a_port(settings.replace(request_header_timeout_s=1.0)) as (port, _runner, app):
        malformed = answers(await exchange("127.0.0.1", port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"))
        unfinished = answers(await exchange("127.0.0.1", port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-A: "))
        assert [malformed[0][0], unfinished[0][0]] == [400, 408]
        ids = [malformed[0][1]["x-request-id"], unfinished[0][1]["x-request-id"]]
        requests = app[keys.METRICS].http.requests
        assert requests.get(("unmatched", "OTHER", "400")) == 1, requests
        assert requests.get(("unmatched", "OTHER", "408")) == 1, requests
        app[keys.REQUEST_FINISHED][-1].flush()          # the access log writes in batches
    lines = "\n".join(r.getMessage() for r in caplog.records if r.name == "service.access")
    for request_id, status in zip(ids, (400, 408), strict=True):
        assert f"route=unmatched status={status} " in lines and f"request_id={request_id} " in lines, lines


async def test_an_unknown_expectation_is_counted_and_logged(settings, caplog):
    """The 417 for an Expect other than 100-continue is answered before the middleware: it was
    in neither cj_http_requests_total nor the access log, and carried no Server-Timing."""
    caplog.set_level(logging.INFO, logger="service.access")
    async with serving_on_a_port(settings) as (port, _runner, app):
        raw = await exchange("127.0.0.1", port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n")
        status, headers, _ = answers(raw)[0]
        assert status == 417 and headers["server-timing"] == 'db;dur=0.00;desc="0 queries"', headers
        assert app[keys.METRICS].http.requests.get(("unmatched", "GET", "417")) == 1
        app[keys.REQUEST_FINISHED][-1].flush()          # the access log writes in batches
    lines = "\n".join(r.getMessage() for r in caplog.records if r.name == "service.access")
    assert "route=unmatched status=417 " in lines and f"request_id={headers['x-request-id']} " in lines, lines


async def test_a_busy_pool_is_not_a_database_down(settings, make_api, db_conn):
    """Every pooled connection held (here: the pool's one connection by a list waiting on a
    table lock), /api/health/full could not check out a connection within its 1 s ping
    deadline and said `database: down` ("no answer within 1 s"), `unhealthy`, HTTP 503:
    what a load balancer or an on-call reads as the database gone, while the server
    answered at once and only the pool was saturated (`pool: critical`, i.e. degraded)."""
    api = await make_api(settings.replace(db_pool_size=1, db_max_overflow=0, db_pool_timeout=10.0,
                                          metrics_token=SCRAPER))
    async with _pool_saturated(api, db_conn):
        started = time.monotonic()
        resp, body = await api.call("GET", "/api/health/full", headers={"Authorization": f"Bearer {SCRAPER}"})
        # Not DB_POOL_TIMEOUT (10 s here, 30 by default) for the job queue's section either.
        assert time.monotonic() - started < 6.0
        assert body["database"]["status"] == "unknown", body["database"]
        assert "jobs" in body
        assert body["checks"]["pool"] == "critical", body["checks"]
        assert (resp.status, body["status"]) == (200, "degraded"), body


async def test_readiness_on_a_busy_pool_does_not_say_the_database_did_not_answer(settings, make_api, db_conn):
    """Readiness is 503 while no connection can be had within 1 s, but it said "the database
    did not answer within 1 s" (database_unavailable) when the database was never asked:
    the pool was saturated. It now says so, as 503 pool_exhausted."""
    api = await make_api(settings.replace(db_pool_size=1, db_max_overflow=0, db_pool_timeout=10.0))
    async with _pool_saturated(api, db_conn):
        resp, body = await api.call("GET", "/api/health/ready")
        assert resp.status == 503 and resp.headers.get("Retry-After"), body
        assert body["error"]["code"] == "pool_exhausted", body
        assert "did not answer" not in body["error"]["message"], body


@contextlib.asynccontextmanager
async def _pool_saturated(api: Api, db_conn):
    """The app's one pooled connection held by a list of clients waiting on a table lock."""
    user = await api.user()
    await api.client_of(user)
    tx = db_conn.transaction()
    await tx.start()
    await db_conn.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
    held = asyncio.ensure_future(api.call("GET", "/api/clients", user))
    try:
        pool = api.client.server.app[keys.DB].pool
        deadline = time.monotonic() + 10
        while not (pool.state()["in_use"] == 1 and await db_conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE relation = 'clients'::regclass AND NOT granted")):
            assert time.monotonic() < deadline, pool.state()
            await asyncio.sleep(0.05)
        yield
    finally:
        await tx.rollback()
        resp, _ = await held
        assert resp.status == 200


def test_the_status_page_says_the_database_is_unavailable_not_unreachable(pg_server, tmp_path):
    """With the database gone, signing an admin's token in needs the database too (the
    token cache is bypassed while its invalidation feed is down), so every poll answers the
    503 error envelope `database_unavailable`. The page took that envelope for a report:
    "Could not reach the service: Cannot read properties of undefined", badge
    "unreachable", on the one occasion an admin without Grafana opens it for."""
    binary = require_tool("chromium", "chromium-browser", package="chromium")
    with fresh_database(pg_server[0], "cj_probe_ops_page") as url, served(url, tmp_path) as service:
        email, password, _ = service.user(admin=True, database_url=url)
        asyncio.run(_watch_the_database_go(binary, service, pg_server[0], url, email, password, tmp_path))


async def _watch_the_database_go(binary: str, service, admin_url: str, url: str, email: str, password: str,
                                 tmp_path) -> None:
    async with Chromium(binary, tmp_path) as page:
        await open_sign_in(page, service.base)
        await sign_in(page, email, password)
        await page.wait_for("document.getElementById('overall').textContent === 'healthy'", "the first report")
        name = urlsplit(url).path.lstrip("/")
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        finally:
            await admin.close()
        error = "document.getElementById('poll-error').textContent"
        await page.wait_for(f"{error}.includes('database is unavailable')", "the database's absence named")
        text = await page.evaluate(error)
        assert "Could not reach" not in text and "undefined" not in text, text
        assert await page.evaluate("document.getElementById('overall').dataset.status") == "unhealthy"
        # The admin stays signed in: the page keeps polling and recovers by itself.
        assert await page.evaluate("document.getElementById('login-panel').hidden") is True
        errors = [event["params"] for event in page.events if event["method"] == "Runtime.exceptionThrown"]
        assert not errors, errors


async def test_a_job_holding_a_connection_past_the_leak_threshold_is_named(make_api, settings, caplog):
    """An export holds one pooled connection for its whole transaction (a large project:
    well past DB_LEAK_THRESHOLD_S). The leak watchdog reported it, and every other hold of
    the job worker, as held 'by None (request_id=None)': an anonymous leak nobody could
    trace, in the log, in /database/events and behind the ConnectionLeakSuspected alert.
    Holds outside a request now name the job (`job:<kind>`, the job id) or the worker loop
    (`job-worker`, the worker id), and so does the slow-query log. (The threshold is the
    lowest allowed, so every hold counts.)"""
    api = await make_api(settings.replace(jobs_worker=True, db_leak_threshold_s=0.001, slow_query_threshold_ms=0))
    user, admin = await api.user(), await api.user(admin=True)
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 50)
    caplog.set_level(logging.WARNING, logger="service.db.pool")
    start = len(caplog.records)          # the app's start-up holds (no request, no job) are not this test's
    _, job = await api.call("POST", f"/api/projects/{project['id']}/exports", user, expect=202)
    assert (await wait_job(api, user, job["id"]))["status"] == "succeeded"
    reports = [r.args for r in caplog.records[start:] if r.getMessage().endswith("leak suspected")]
    holders = {(endpoint, request_id) for _held, endpoint, request_id in reports}
    assert ("job:export", job["id"]) in holders, holders
    assert all(endpoint is not None and request_id is not None for endpoint, request_id in holders), holders
    events = await api.get("/api/health/database/events", admin)
    assert any(leak["endpoint"] == "job:export" for leak in events["recent_leaks"]), events["recent_leaks"]
    # The slow-query log (every query is slow here) names the job the same way.
    slow = await api.get("/api/health/profiling/slow-queries?limit=1000", admin)
    assert any((q["endpoint"], q["request_id"]) == ("job:export", job["id"]) for q in slow["items"]), slow
