"""The instrumented pool on a real PostgreSQL: bounded waits, timeouts, dead and old
connections, leak suspicion, overflow shrink, and counters that move with the work.

Slow work is made with test-only routes added to the app here: /test/sleep (pg_sleep
through the service's own Database, so it takes the one acquire path) and /test/hold
(holds a pooled connection until the test sets the app's release event). Nothing here
depends on how fast the machine is: the tests wait for states (polling with generous
deadlines) and assert only lower bounds on durations.
"""
from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from checks import eventually
from conftest import Api

from service import keys
from service.app import create_app
from service.db.registry import Query
from service.http.responses import json_response

SLEEP = Query("tests/sleep", "SELECT pg_sleep($1::float8)", params=("seconds",))
RELEASE = web.AppKey("test_hold_release", asyncio.Event)


async def sleep_route(request: web.Request) -> web.Response:
    """Hold one pooled connection for ?s= seconds with a server-side sleep."""
    await request.app[keys.DB].fetchval(SLEEP, seconds=float(request.query.get("s", "0.5")))
    return json_response(request, {"slept": True})


async def hold_route(request: web.Request) -> web.Response:
    """Hold one pooled connection until the test sets app[RELEASE]."""
    async with request.app[keys.DB].pool.acquire():
        await request.app[RELEASE].wait()
    return json_response(request, {"held": True})


@pytest.fixture
def build(aiohttp_client, database_url):
    """An app with the test-only /test/sleep and /test/hold routes: `await build(settings)` -> (Api, app)."""
    async def make(custom) -> tuple[Api, web.Application]:
        app = create_app(custom)
        app[RELEASE] = asyncio.Event()
        app.router.add_get("/test/sleep", sleep_route)
        app.router.add_get("/test/hold", hold_route)
        return Api(await aiohttp_client(app), database_url), app
    return make


async def events_of(api: Api, admin) -> dict:
    return await api.get("/api/health/database/events", admin)


async def test_counters_move_with_requests(api):
    admin = await api.user(admin=True)
    before = await events_of(api, admin)
    for _ in range(5):
        await api.client_of(admin)          # writes always reach the database (reads may be cached)
    after = await events_of(api, admin)
    assert after["acquires"] >= before["acquires"] + 5
    assert after["releases"] >= before["releases"] + 5
    assert after["acquires"] - after["releases"] <= 1          # only this request's own hold may be open
    assert after["acquire_wait_ms"]["count"] == after["acquires"]
    assert after["hold_ms"]["count"] == after["releases"]
    assert after["connects"] >= 2                               # DB_POOL_SIZE=2 opened at start
    assert after["hold_ms"]["max"] > 0 and after["hold_ms"]["p95"] <= after["hold_ms"]["max"]


async def test_exhausted_pool_answers_503_within_the_timeout_and_recovers(build, settings):
    api, app = await build(settings.replace(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.5))
    pool = app[keys.DB].pool
    holder = asyncio.create_task(api.call("GET", "/test/hold", expect=200))
    await eventually(lambda: pool.state()["in_use"] == 1, "the holder owns the only connection")
    start = time.perf_counter()
    resp, body = await api.call("GET", "/test/sleep?s=0", expect=503)
    waited = time.perf_counter() - start
    # It waited DB_POOL_TIMEOUT (a lower bound; asyncio may fire a hair early), then gave
    # up instead of waiting for the holder, which never lets go by itself.
    assert waited >= 0.45, waited
    assert body["error"]["code"] == "pool_exhausted"
    assert resp.headers["Retry-After"].isdigit()
    assert pool.events.acquire_timeouts >= 1
    app[RELEASE].set()
    await holder
    await api.call("GET", "/test/sleep?s=0", expect=200)   # recovered: the connection is free again
    await eventually(lambda: pool.state()["in_use"] == 0, "every connection released")


async def test_statement_timeout_answers_503_with_a_clear_error(build, settings):
    api, app = await build(settings.replace(db_statement_timeout_ms=200))
    start = time.perf_counter()
    resp, body = await api.call("GET", "/test/sleep?s=120", expect=503)
    assert time.perf_counter() - start < 60          # cancelled by the server, not slept through
    assert body["error"]["code"] == "query_timeout"
    assert "statement timeout" in body["error"]["message"]
    assert "Retry-After" in resp.headers
    # the cancelled statement left a usable pool behind
    await api.call("GET", "/test/sleep?s=0", expect=200)


async def test_terminated_backend_is_survived_and_counted(build, settings, db_conn):
    api, app = await build(settings.replace(db_pool_size=1, db_max_overflow=0))
    pool = app[keys.DB].pool
    await api.call("GET", "/test/sleep?s=0", expect=200)
    [pid] = pool.backend_pids()
    disconnects, connects = pool.events.disconnects, pool.events.connects
    assert await db_conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    await api.call("GET", "/test/sleep?s=0", expect=200)   # no 503: a fresh connection served it
    await eventually(lambda: pool.events.disconnects > disconnects, "the lost connection is counted")
    assert pool.events.disconnects == disconnects + 1
    assert pool.events.connects == connects + 1
    assert pool.backend_pids() != [pid]


async def test_pre_ping_replaces_a_dead_idle_connection(build, settings, db_conn):
    """A connection whose loss went unnoticed (half-open, as behind a firewall) fails the ping and is replaced."""
    api, app = await build(settings.replace(db_pool_size=1, db_max_overflow=0, db_pool_timeout=60))
    pool = app[keys.DB].pool
    # Every checkout pings. The dead connection's ping can only time out; 2 s leaves a
    # healthy replacement's ping room to answer on a saturated machine.
    pool.pre_ping_after_idle_s, pool.pre_ping_timeout_s = 0.0, 2.0
    await api.call("GET", "/test/sleep?s=0", expect=200)
    [pid] = pool.backend_pids()
    # Stop reading its socket (asyncpg internals, test only): the loop cannot see the
    # server hang up, so only the ping can find out.
    [holder] = [h for h in pool.raw._holders if h._con is not None]
    holder._con._transport.pause_reading()
    assert await db_conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    failures, disconnects = pool.events.pre_ping_failures, pool.events.disconnects
    await api.call("GET", "/test/sleep?s=0", expect=200)    # served by a replacement, not a 503
    assert pool.events.pre_ping_failures == failures + 1
    await eventually(lambda: pool.events.disconnects > disconnects, "the dead connection is counted")
    assert pool.events.disconnects == disconnects + 1
    assert pool.backend_pids() and pid not in pool.backend_pids()


async def test_a_checkout_cancelled_during_its_ping_gives_the_connection_back(build, settings):
    """A caller's own deadline can fall while the pool pings an idle connection (GET /metrics
    gives its read of the job queue two seconds): the connection, already out of asyncpg's
    pool and not yet the caller's, must not be lost to the pool for good."""
    api, app = await build(settings.replace(db_pool_size=1, db_max_overflow=0, db_pool_timeout=10))
    db = app[keys.DB]
    pool = db.pool
    pool.pre_ping_after_idle_s, pool.pre_ping_timeout_s = 0.0, 60.0     # every checkout pings, patiently
    await api.call("GET", "/test/sleep?s=0", expect=200)
    # Its ping gets no answer (asyncpg internals, test only): the checkout waits in the ping.
    [holder] = [h for h in pool.raw._holders if h._con is not None]
    holder._con._transport.pause_reading()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            await db.fetchval(SLEEP, seconds=0.0)
    # The one slot is free again: answered by a new connection, not a 503 after db_pool_timeout.
    await api.call("GET", "/test/sleep?s=0", expect=200)


async def test_recycle_replaces_old_connections(build, settings):
    api, app = await build(settings.replace(db_pool_size=1, db_max_overflow=0, db_pool_recycle=1))
    pool = app[keys.DB].pool

    async def serving_pid():
        await api.call("GET", "/test/sleep?s=0", expect=200)
        return pool.backend_pids()
    # On a slow machine the very first connection may already be past its age when released.
    [first] = await eventually(serving_pid, "an open connection after a request")
    recycles = pool.events.recycles
    await asyncio.sleep(1.1)                                  # at least DB_POOL_RECYCLE from now on
    await api.call("GET", "/test/sleep?s=0", expect=200)      # released past its age: closed
    assert pool.events.recycles > recycles
    await api.call("GET", "/test/sleep?s=0", expect=200)      # served by a new connection
    assert pool.backend_pids() and first not in pool.backend_pids()


async def test_leak_suspicion_names_the_endpoint_and_request(build, settings):
    api, app = await build(settings.replace(db_leak_threshold_s=0.5))
    pool = app[keys.DB].pool
    admin = await api.user(admin=True)
    holder = asyncio.create_task(api.call("GET", "/test/hold", headers={"X-Request-ID": "leaky-1"}, expect=200))

    async def reported_while_held():
        events = await events_of(api, admin)
        return [h for h in events["held_past_threshold"] if h["request_id"] == "leaky-1"]
    [held] = await eventually(reported_while_held, "the held connection is reported while it is held")
    assert held["endpoint"] == "/test/hold"
    # Let the watchdog tick a few more times over the same hold (interval: threshold / 4).
    await asyncio.sleep(1.0)
    app[RELEASE].set()
    await holder
    events = await events_of(api, admin)
    # Counted once, not once per watchdog tick. On a loaded machine another request may
    # also hold a connection past 0.5 s and be reported: only leaky-1 is asserted on.
    assert [leak["request_id"] for leak in events["recent_leaks"]].count("leaky-1") == 1
    assert events["leaks_suspected"] == len(events["recent_leaks"]) == pool.events.leaks_suspected
    [leak] = [leak for leak in events["recent_leaks"] if leak["request_id"] == "leaky-1"]
    assert leak["endpoint"] == "/test/hold" and leak["held_ms"] >= 500
    assert "leaky-1" not in [h["request_id"] for h in events["held_past_threshold"]]


async def test_overflow_grows_under_load_and_shrinks_back_to_the_base(build, settings):
    api, app = await build(settings.replace(db_pool_size=1, db_max_overflow=3, db_idle_timeout_s=0.3))
    pool = app[keys.DB].pool
    holders = [asyncio.create_task(api.call("GET", "/test/hold", expect=200)) for _ in range(4)]
    await eventually(lambda: pool.state()["in_use"] == 4, "four connections held at once")
    assert pool.events.peak_in_use == 4
    assert pool.state()["size"] == 4 and pool.state()["overflow"] == 3
    app[RELEASE].set()
    await asyncio.gather(*holders)
    await eventually(lambda: pool.state()["size"] == 1, "the overflow closed after DB_IDLE_TIMEOUT_S idle")
    await asyncio.sleep(1.0)                                  # and it stays at the base size
    state = pool.state()
    assert state["size"] == 1 and state["overflow"] == 0     # never below DB_POOL_SIZE
    assert pool.events.disconnects >= 3


async def test_waiting_is_counted_while_requests_queue(build, settings):
    api, app = await build(settings.replace(db_pool_size=1, db_max_overflow=0, db_pool_timeout=60))
    pool = app[keys.DB].pool
    tasks = [asyncio.create_task(api.call("GET", "/test/hold", expect=200)) for _ in range(3)]
    await eventually(lambda: pool.state()["waiting"] == 2 and pool.state()["in_use"] == 1,
                     "one request holding, two waiting")
    await asyncio.sleep(0.4)                                  # the two have waited at least this long
    app[RELEASE].set()
    await asyncio.gather(*tasks)
    assert pool.state()["waiting"] == 0
    assert pool.events.waited >= 2
    assert pool.events.wait_ms.max >= 390


async def test_database_down_answers_503_not_500(build, settings, database_url):
    """Connections lost and the server unreachable: requests answer 503 with Retry-After."""
    api, app = await build(settings.replace(db_pool_size=1, db_max_overflow=0))
    pool = app[keys.DB].pool
    pool.raw.set_connect_args(dsn="postgresql://nobody@127.0.0.1:1/none")
    await pool.raw.expire_connections()
    resp, body = await api.call("GET", "/test/sleep?s=0", expect=503)
    assert body["error"]["code"] == "database_unavailable" and "Retry-After" in resp.headers
    assert pool.events.acquire_errors >= 1
    pool.raw.set_connect_args(dsn=database_url)
    await api.call("GET", "/test/sleep?s=0", expect=200)


async def test_echo_pool_logs_pool_events(build, settings, caplog):
    with caplog.at_level("INFO", logger="service.db.pool"):
        api, _ = await build(settings.replace(db_pool_size=1, db_max_overflow=0, db_echo_pool=True))
        await api.call("GET", "/test/sleep?s=0", expect=200)
    messages = [record.getMessage() for record in caplog.records if record.name == "service.db.pool"]
    assert any(m.startswith("pool: connected") for m in messages)
    assert any(m.startswith("pool: checkout") for m in messages)
    assert any(m.startswith("pool: checkin") for m in messages)


async def test_quiet_pool_logs_nothing_on_the_hot_path(build, settings, caplog):
    with caplog.at_level("DEBUG", logger="service.db.pool"):
        api, _ = await build(settings.replace(db_pool_size=1, db_max_overflow=0))
        await api.call("GET", "/test/sleep?s=0", expect=200)
    assert [r for r in caplog.records if r.name == "service.db.pool"] == []


async def test_release_rolls_back_a_transaction_left_open(aiohttp_client, settings):
    """Release resets only by asyncpg's rollback (pool.keep_session): still a clean connection."""
    async def leave_open(request: web.Request) -> web.Response:
        async with request.app[keys.DB].pool.acquire() as conn:
            await conn.execute("BEGIN")
        return json_response(request, {})

    async def in_transaction(request: web.Request) -> web.Response:
        async with request.app[keys.DB].pool.acquire() as conn:
            return json_response(request, {"in_transaction": conn.is_in_transaction()})

    app = create_app(settings.replace(db_pool_size=1, db_max_overflow=0))
    app.router.add_get("/test/leave-open", leave_open)
    app.router.add_get("/test/in-transaction", in_transaction)
    api = Api(await aiohttp_client(app), settings.database_url)
    await api.call("GET", "/test/leave-open", expect=200)
    _, body = await api.call("GET", "/test/in-transaction", expect=200)
    assert body == {"in_transaction": False}
