"""Database faults a production user hits, beyond tests/integration/test_topology_faults.py
and test_replica.py: a database that takes no writes (a failover that left DATABASE_URL on
the demoted primary, a hot standby, or default_transaction_read_only for maintenance) and a
DBA's lock_timeout answer 503 with Retry-After, never 500, and the service needs no restart
once the database takes writes again; PgBouncer with the default statement cache answers no
500; a partitioned replica holds no read longer than its monitor needs to find it down.

The tests that change database settings run in a scratch database of their own."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from checks import eventually
from conftest import Api
from dbutil import scratch_database
from test_replica import _state_is, replayed, until_routed_to_replica  # noqa: F401 - replayed: a fixture
from topology import PartitionProxy

from service.app import create_app

APPLICATION = "content-jumpstart-api"


@pytest.fixture
async def own_database(pg_server):
    async with scratch_database(pg_server[0], "cj_probe") as url:
        yield url


@pytest.fixture
async def owner(own_database):
    conn = await asyncpg.connect(own_database)
    try:
        yield conn
    finally:
        await conn.close()


async def _set_database(conn: asyncpg.Connection, setting: str, value: str | None) -> None:
    """ALTER DATABASE (this one) SET or RESET a setting: new sessions take it."""
    name = await conn.fetchval("SELECT current_database()")
    action = f"SET {setting} = {value}" if value is not None else f"RESET {setting}"
    await conn.execute(f'ALTER DATABASE "{name}" {action}')


async def _reconnect_service(conn: asyncpg.Connection, api: Api, user) -> None:
    """Terminate the service's backends: its next connections are new sessions (as after a
    failover). Then reads (retried once after a lost connection) until the pool holds only new ones."""
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 "
        "AND datname = current_database()", APPLICATION)
    await asyncio.sleep(0.5)
    for _ in range(20):
        await api.get("/api/clients?page_size=1", user)


async def test_a_database_that_takes_no_writes_answers_503_and_writes_resume_once_it_does(
        own_database, owner, settings, aiohttp_client):
    """ReadOnlySQLTransactionError (25006) was a 500 on every write, login and registration;
    and a pooled session that had started read-only stayed so after the database was
    writable again (ALTER DATABASE applies to new sessions only), until DB_POOL_RECYCLE."""
    api = Api(await aiohttp_client(create_app(settings.replace(database_url=own_database))), own_database)
    user = await api.user()
    client = await api.client_of(user, name="Before")
    await _set_database(owner, "default_transaction_read_only", "on")
    await _reconnect_service(owner, api, user)
    try:
        for method, path, body in [
                ("POST", "/api/clients", {"name": "Refused"}),
                ("PATCH", f"/api/clients/{client['id']}", {"name": "Refused"}),
                ("POST", "/api/auth/login", {"email": user.email, "password": "password-123"}),
                ("POST", "/api/auth/register", {"email": "read-only@example.com", "password": "password-123"})]:
            resp, data = await api.call(method, path, user, json=body)
            assert resp.status == 503, (method, path, resp.status, data)
            assert resp.headers["Retry-After"] == "1"
            assert data["error"]["code"] == "database_read_only", data
        # Reads go on.
        assert (await api.get(f"/api/clients/{client['id']}", user))["name"] == "Before"
    finally:
        await _set_database(owner, "default_transaction_read_only", None)
    # Writable again. A session opened while the database was read-only is found out by
    # its first write and dropped, and a refusal replaces every connection of the pool (at
    # most once a second): fewer 503s than the pool has connections, then every write
    # commits, whichever pooled connection it gets.
    pool_max = settings.db_pool_size + settings.db_max_overflow
    writes = 4 * pool_max
    statuses = [(await api.call("POST", "/api/clients", user, json={"name": f"After {i}"}))[0].status
                for i in range(writes)]
    assert statuses.count(503) <= pool_max and set(statuses) <= {201, 503}, statuses
    assert statuses[-writes // 2:] == [201] * (writes // 2), statuses
    assert await owner.fetchval("SELECT count(*) FROM clients WHERE name LIKE 'After %'") == statuses.count(201)
    assert await owner.fetchval("SELECT count(*) FROM clients WHERE name = 'Refused'") == 0


async def test_health_full_says_when_the_database_takes_no_writes_and_when_it_does_again(
        own_database, owner, settings, aiohttp_client):
    """/api/health/full answered 'healthy' (200, database ok) while every write answered 503
    (a ping is a read). Now: degraded, database read_only. And once the database takes
    writes again, the check says so at once and the next write commits: the read-only
    finding had the pool replace its sessions."""
    api = Api(await aiohttp_client(create_app(settings.replace(database_url=own_database))), own_database)
    admin = await api.user(admin=True)
    assert (await api.get("/api/health/full", admin))["status"] == "healthy"
    await _set_database(owner, "default_transaction_read_only", "on")
    await _reconnect_service(owner, api, admin)
    try:
        full = await api.get("/api/health/full", admin)
        assert full["status"] == "degraded" and full["checks"]["database"] == "read_only", full
        assert full["database"]["error"], full
    finally:
        await _set_database(owner, "default_transaction_read_only", None)
    full = await api.get("/api/health/full", admin)
    assert full["status"] == "healthy" and full["checks"]["database"] == "ok", full
    await api.post("/api/clients", admin, json={"name": "Writable again"})


async def test_health_full_says_when_a_configured_replica_is_not_serving(settings, aiohttp_client, database_url):
    """A replica that cannot be reached: every read goes to the primary, and /api/health/full
    said 'healthy' without a word of it (only /api/health/database's replica block did)."""
    unreachable = "postgresql://postgres@127.0.0.1:1/none"
    api = Api(await aiohttp_client(create_app(settings.replace(database_replica_url=unreachable))), database_url)
    admin = await api.user(admin=True)
    full = await api.get("/api/health/full", admin)
    assert full["status"] == "degraded" and full["checks"].get("replica") == "down", full
    assert full["replica"]["error"], full


async def test_lock_timeout_answers_503_lock_timeout_and_keeps_the_connection(
        own_database, owner, settings, aiohttp_client):
    """A lock_timeout set by a DBA (55P03) was taken for a lost connection: the connection
    dropped, every idle one pinged, a GET run twice (twice the wait), 'database is
    unavailable' in the answer. It is the statement's lock wait, like a statement timeout."""
    await _set_database(owner, "lock_timeout", "'200ms'")
    app = create_app(settings.replace(database_url=own_database))
    api = Api(await aiohttp_client(app), own_database)
    user = await api.user()
    client = await api.client_of(user)
    from service import keys
    pool = app[keys.DB].pool
    faults = pool.events.faults
    async with owner.transaction():
        await owner.execute("SELECT 1 FROM clients WHERE id = $1::uuid FOR UPDATE", client["id"])
        resp, data = await api.call("PATCH", f"/api/clients/{client['id']}", user, json={"name": "Locked"})
        assert resp.status == 503 and resp.headers["Retry-After"] == "1", data
        assert data["error"]["code"] == "lock_timeout", data
    async with owner.transaction():
        await owner.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
        resp, data = await api.call("GET", f"/api/clients/{client['id']}", user)
        assert resp.status == 503 and data["error"]["code"] == "lock_timeout", data
    assert pool.events.faults == faults, "a lock wait is no connection fault"
    await api.patch(f"/api/clients/{client['id']}", user, json={"name": "Unlocked"})


async def test_behind_pgbouncer_the_default_statement_cache_answers_no_500(
        pgbouncer, database_url, settings, aiohttp_client):
    """With DATABASE_URL through PgBouncer 1.18 in transaction mode and DB_STATEMENT_CACHE_SIZE
    left at its default (100), asyncpg's named prepared statements ran on server connections
    that never prepared them: 320 of 400 concurrent requests answered 500 ('prepared statement
    "__asyncpg_stmt_…__" does not exist'). The pool finds the pooler and uses no cache."""
    from service import keys
    from service.topology.pgbouncer import database_of
    bounced = settings.replace(database_url=pgbouncer.url(database_of(database_url)),
                               database_direct_url=database_url)
    assert bounced.db_statement_cache_size == 100
    app = create_app(bounced)
    api = Api(await aiohttp_client(app), database_url)
    user = await api.user()
    statuses: dict[int, int] = {}

    async def one(i: int) -> None:
        for method, path, body in (("GET", f"/api/clients?page_size={1 + i % 50}", None),
                                   ("POST", "/api/clients", {"name": f"Bounced {i}"})):
            resp, _ = await api.call(method, path, user, json=body)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1

    await asyncio.gather(*(one(i) for i in range(200)))
    assert set(statuses) <= {200, 201}, statuses
    session = app[keys.DB].pool.session
    assert session.get("pooler") is True and session.get("statement_cache_size") == 0, session


async def test_directly_connected_the_statement_cache_is_kept(database_url, settings, aiohttp_client):
    from service import keys
    app = create_app(settings)
    await aiohttp_client(app)
    assert app[keys.DB].pool.session["pooler"] is False
    assert app[keys.DB].pool.session["statement_cache_size"] == settings.db_statement_cache_size == 100



async def test_reads_on_a_partitioned_replica_run_on_the_primary_once_it_is_found_down(
        make_api, settings, standby, database_url, replayed):  # noqa: F811 - the fixture imported above
    """A partition between the service and the replica (bytes stop, nothing closes): reads
    in flight on it, or waiting for one of its connections, waited for the client-side
    command timeout (35.0 s here: DB_STATEMENT_TIMEOUT_MS + 5 s) or DB_POOL_TIMEOUT (5 s
    here; 30 s by default) before running on the primary, though the monitor had found the
    replica down within 2.4 s. Now they are cut when it is found down and answer from the
    primary: all within 2.4 s of the partition in the run that fixed it."""
    name = urlsplit(database_url).path.lstrip("/")
    proxy = await PartitionProxy(standby.url(name)).start()
    try:
        api = await make_api(settings.replace(database_replica_url=proxy.url(name), db_replica_max_lag_s=60.0,
                                              cache_enabled=False))
        admin, user = await api.user(admin=True), await api.user()
        client = await api.client_of(user)
        await replayed()
        await until_routed_to_replica(api, user, admin, "/api/clients")
        proxy.partition()

        async def read(delay: float) -> tuple[int, float]:
            await asyncio.sleep(delay)
            start = time.monotonic()
            # A search of its own each time keeps any cache out of the way.
            resp, body = await api.call("GET", f"/api/clients?search=Acme&page_size={1 + int(delay * 10)}", user)
            assert resp.status == 200 and [item["id"] for item in body["items"]] == [client["id"]], body
            return resp.status, time.monotonic() - start

        # Fewer at once than DB_USER_CONCURRENCY (8): the user's own queue is not what is measured.
        results = await asyncio.gather(*(read(0.4 * i) for i in range(7)))
        longest = max(elapsed for _, elapsed in results)
        assert longest < 10.0, results
        view = await _state_is(api, admin, "down")
        assert view is not None and view["reads"]["primary"].get("replica_error", 0) >= 1, view
    finally:
        proxy.heal()
    try:
        await eventually(lambda: _state_is(api, admin, "up"), "replica up again after the partition", timeout=60)
    finally:
        await proxy.stop()


@pytest.mark.parametrize(("error", "code"), [(asyncpg.ReadOnlySQLTransactionError("read-only"), "database_read_only"),
                                             (asyncpg.LockNotAvailableError("lock"), "lock_timeout")])
def test_a_read_only_server_and_a_lock_timeout_are_503_and_no_connection_fault(error, code):
    from service.db.errors import found_read_only, is_connection_fault, translate_db_error
    from service.errors import ServiceUnavailable
    translated = translate_db_error(error)
    assert isinstance(translated, ServiceUnavailable) and translated.code == code
    translated.__cause__ = error
    assert not is_connection_fault(translated)
    assert found_read_only(translated) == (code == "database_read_only")


async def test_replica_reads_are_cut_once_however_often_the_replica_is_found_down(settings):
    """Found down again while a cut read is still unwinding (a failed check and a failed
    read in the same moment): a deadline already expiring cannot be rescheduled, and the
    RuntimeError would have escaped into a request or the monitor."""
    from service.db.routing import UP, ReplicaRouter
    router = ReplicaRouter("postgresql://nobody@127.0.0.1:1/none", settings)
    router.state = UP

    async def read() -> str:
        try:
            async with router.cut_when_down():
                await asyncio.sleep(30)
        except TimeoutError:
            return "cut"
        return "not cut"

    reads = [asyncio.create_task(read()) for _ in range(3)]
    await asyncio.sleep(0.01)
    router._set_down("check failed")
    await asyncio.sleep(0)              # the deadlines are expiring now
    router._set_down("read failed")
    assert await asyncio.wait_for(asyncio.gather(*reads), 5) == ["cut"] * 3


async def test_without_a_direct_url_behind_pgbouncer_no_instance_serves_a_stale_cache(
        make_api, settings, pgbouncer, database_url):
    """DATABASE_DIRECT_URL unset (its default is DATABASE_URL) with DATABASE_URL through
    PgBouncer in transaction mode: each process's LISTEN went through PgBouncer, looked
    connected, and heard almost nothing. A client renamed through instance one was still
    the old name on instance two 10 s later (cache hits; the medium tier keeps it 600 s),
    and a token logged out on one was still taken by two. Now the listener finds the
    pooler, stays down and says why: the cache is bypassed, every read is fresh, and
    /api/health/full says the cache is incoherent."""
    from service.topology.pgbouncer import database_of
    bounced = settings.replace(database_url=pgbouncer.url(database_of(database_url)))
    assert bounced.database_direct_url is None
    one, two = await make_api(bounced), await make_api(bounced)
    user, admin = await one.user(), await one.user(admin=True)
    client = await one.client_of(user, name="Before")
    for _ in range(2):                      # the second read would be a cache hit
        assert (await two.get(f"/api/clients/{client['id']}", user))["name"] == "Before"
        await two.get("/api/clients", admin)
    await one.patch(f"/api/clients/{client['id']}", user, json={"name": "After"})
    assert (await two.get(f"/api/clients/{client['id']}", user))["name"] == "After"
    await one.call("POST", "/api/auth/logout", user, expect=204)
    await two.call("GET", "/api/clients", user, expect=401)
    full = await two.get("/api/health/full", admin)
    assert full["checks"]["cache"] == "incoherent" and full["status"] == "degraded", full



@pytest.fixture
def session_pgbouncer(pg_server):
    """A PgBouncer in session mode in front of the test server (the session's is in transaction
    mode); its directory outside pytest's, which its unprivileged account cannot enter."""
    from topology import require_pgbouncer

    from service.topology.pgbouncer import PgBouncer, account_for
    require_pgbouncer()
    admin_url, server = pg_server
    workdir = Path(tempfile.mkdtemp(prefix="cj-pgbouncer-session-"))
    bouncer = PgBouncer(admin_url, workdir, pool_mode="session",
                        run_as=account_for(server.system_user if server is not None else None)).start()
    try:
        yield bouncer
    finally:
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_a_listen_through_a_pooler_in_session_mode_is_kept(make_api, settings, session_pgbouncer, database_url):
    """PgBouncer gives every client a backend pid of its own, in any pool mode: the first
    check refused a session-mode pooler too, where a LISTEN works, and the cache was off on
    every instance. A probe notification now tells the modes apart."""
    from service.topology.pgbouncer import database_of
    pooled = settings.replace(database_direct_url=session_pgbouncer.url(database_of(database_url)))
    one, two = await make_api(pooled), await make_api(pooled)
    user, admin = await one.user(), await one.user(admin=True)
    client = await one.client_of(user, name="Before")
    for _ in range(2):
        assert (await two.get(f"/api/clients/{client['id']}", user))["name"] == "Before"
    await one.patch(f"/api/clients/{client['id']}", user, json={"name": "After"})

    async def renamed():
        return (await two.get(f"/api/clients/{client['id']}", user))["name"] == "After"
    await eventually(renamed, what="the rename to reach the other instance's cache")
    full = await two.get("/api/health/full", admin)
    assert full["checks"]["cache"] == "ok", full
    resp, _ = await two.call("GET", f"/api/clients/{client['id']}", user, expect=200)
    assert 'cache;desc="hit"' in resp.headers["Server-Timing"]          # the cache serves

async def test_read_your_writes_holds_with_asynchronous_commit(aiohttp_client, settings, standby, pg_server):
    """synchronous_commit=off (a common tuning): a commit is acknowledged before its WAL
    record is written. The fence was the primary's write position (pg_current_wal_lsn()),
    which could lie before the commit: the replica, having replayed up to it, answered
    the user's read right after their own write with the previous value (10 of 30 reads
    in the run that found it). The fence is now the insert position."""
    from service import keys
    async with scratch_database(pg_server[0], "cj_async_commit") as url:
        name = urlsplit(url).path.lstrip("/")
        conn = await asyncpg.connect(url)
        try:
            await _set_database(conn, "synchronous_commit", "off")
        finally:
            await conn.close()
        app = create_app(settings.replace(database_url=url, database_replica_url=standby.url(name),
                                          db_replica_max_lag_s=60.0, cache_enabled=False))
        api = Api(await aiohttp_client(app), url)
        admin, user = await api.user(admin=True), await api.user()
        client = await api.client_of(user, name="v0")
        await until_routed_to_replica(api, user, admin, "/api/clients")
        router = app[keys.DB].router
        stale = []
        for i in range(1, 31):
            await api.patch(f"/api/clients/{client['id']}", user, json={"name": f"v{i}"})
            for _ in range(2):               # at once (the replica is behind), then once it may have caught up
                got = (await api.get(f"/api/clients/{client['id']}", user))["name"]
                if got != f"v{i}":
                    stale.append((i, got))
                await asyncio.sleep(0.35)
        assert stale == [], stale
        assert router.reads.get(("replica", "fresh"), 0) >= 5, router.reads      # the replica did answer


async def test_a_write_whose_fence_was_not_recorded_pins_its_user_to_the_primary_only_until_replayed(
        aiohttp_client, settings, standby, pg_server):
    """The fence of an acknowledged write could not be written (the primary blipped right
    after the commit; here: a statement timeout on a locked replica_fences). The process
    then read that user from the primary, rightly, but for good: its local fence was
    infinite, so no replica read for them again in this process (until 10,000 other users
    pushed it out). Now the user is read from the primary until the replica has replayed
    everything the primary had written when the fence failed, then from the replica again."""
    from service import keys
    async with scratch_database(pg_server[0], "cj_fence") as url:
        name = urlsplit(url).path.lstrip("/")
        app = create_app(settings.replace(database_url=url, database_replica_url=standby.url(name),
                                          db_replica_max_lag_s=60.0, cache_enabled=False,
                                          db_statement_timeout_ms=1000))
        api = Api(await aiohttp_client(app), url)
        admin, user = await api.user(admin=True), await api.user()
        client = await api.client_of(user, name="Before")
        await until_routed_to_replica(api, user, admin, "/api/clients")
        router = app[keys.DB].router
        owner = await asyncpg.connect(url)
        try:
            async with owner.transaction():
                await owner.execute("LOCK TABLE replica_fences IN ACCESS EXCLUSIVE MODE")
                renamed = await api.patch(f"/api/clients/{client['id']}", user, json={"name": "After"})
                assert renamed["name"] == "After"           # acknowledged, its fence timed out
        finally:
            await owner.close()
        assert (await api.get(f"/api/clients/{client['id']}", user))["name"] == "After"
        assert router.reads.get(("primary", "own_write"), 0) >= 1, router.reads

        async def on_the_replica():
            before = router.reads.get(("replica", "fresh"), 0)
            assert (await api.get(f"/api/clients/{client['id']}", user))["name"] == "After"
            return router.reads.get(("replica", "fresh"), 0) > before or None
        await eventually(on_the_replica, "the user read on the replica again once it replayed the write",
                         timeout=20, interval=0.25)


async def test_a_primary_that_does_not_answer_the_monitor_leaves_replica_reads_in_flight_alone(
        settings, standby, database_url):
    """The monitor marks the replica down when either side fails. Cutting the replica's reads
    in flight is for a replica that failed: when only the primary did not answer (its pool
    closed here, as during a restart), a read already on the healthy replica must finish
    there rather than be re-run on the primary that is down."""
    from service.db.database import Database
    from service.db.pool import Pool
    from service.db.routing import DOWN, UP, ReplicaRouter
    name = urlsplit(database_url).path.lstrip("/")
    router = ReplicaRouter(standby.url(name), settings)
    router._db = Database(Pool(database_url, settings))      # never opened: the primary does not answer
    router.state = UP
    finished = asyncio.Event()

    async def read() -> str:
        try:
            async with router.cut_when_down():
                await finished.wait()
        except TimeoutError:
            return "cut"
        return "finished"

    in_flight = asyncio.create_task(read())
    try:
        await asyncio.sleep(0.01)
        await router.check_once()
        assert router.state == DOWN and "primary" in router.last_error, router.last_error
        await asyncio.sleep(0.05)
        finished.set()
        assert await asyncio.wait_for(in_flight, 5) == "finished"
    finally:
        await router.stop()


# A deferred constraint trigger that waits, at commit, for an advisory lock the test holds
# (as in test_topology_faults.py; creating a client is one statement, which commits as it ends).
WAIT_LOCK = 0x7E57_00DB
WAIT_AT_COMMIT = f"""
CREATE FUNCTION probe_wait_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({WAIT_LOCK});
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER probe_wait_at_commit AFTER INSERT ON clients
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION probe_wait_at_commit();
"""


async def test_a_write_committed_but_not_acknowledged_is_looked_for_on_the_primary(
        aiohttp_client, settings, standby, pg_server):
    """The README: 'Not acknowledged is not the same as not stored ... a client should look
    before it repeats a create.' The connection is lost after the server committed (here:
    the answer to COMMIT never arrives, a partition; the client gives up after its command
    timeout): 503, and no fence was raised, since only acknowledged writes raise one. With
    the replica behind, the client's look was answered by the replica, without the row:
    the client would create it again. Now a write that failed on a lost connection (its
    outcome unknown) sends the user's reads to the primary until the replica covers it."""
    from service import keys
    async with scratch_database(pg_server[0], "cj_unacked") as url:
        name = urlsplit(url).path.lstrip("/")
        owner = await asyncpg.connect(url)
        proxy = await PartitionProxy(url).start()
        try:
            await owner.execute(WAIT_AT_COMMIT)
            app = create_app(settings.replace(database_url=proxy.url(name), database_direct_url=url,
                                              database_replica_url=standby.url(name), db_replica_max_lag_s=60.0,
                                              cache_enabled=False, db_statement_timeout_ms=3000))
            api = Api(await aiohttp_client(app), url)
            admin, user = await api.user(admin=True), await api.user()
            await until_routed_to_replica(api, user, admin, "/api/clients")
            standby.pause_replay()
            try:
                await owner.execute("SELECT pg_advisory_lock($1)", WAIT_LOCK)
                request = asyncio.create_task(api.call("POST", "/api/clients", user, json={"name": "Unacknowledged"}))
                for _ in range(400):
                    waiting = await owner.fetchval(     # the INSERT, which commits as it ends
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                        "AND wait_event_type = 'Lock' AND datname = current_database()", APPLICATION)
                    if waiting:
                        break
                    await asyncio.sleep(0.025)
                assert waiting, "the write never waited at its commit"
                proxy.partition()                         # the answer to COMMIT will not get through
                await owner.execute("SELECT pg_advisory_unlock($1)", WAIT_LOCK)
                resp, body = await asyncio.wait_for(request, 30)
                assert resp.status == 503, body
                assert await owner.fetchval("SELECT count(*) FROM clients WHERE name = 'Unacknowledged'") == 1
                proxy.heal()
                # The client looks before it repeats the create.
                listed = await api.get("/api/clients", user)
                assert [item["name"] for item in listed["items"]] == ["Unacknowledged"], listed
            finally:
                standby.resume_replay()
            router = app[keys.DB].router

            async def on_the_replica():
                before = router.reads.get(("replica", "fresh"), 0)
                assert [item["name"] for item in (await api.get("/api/clients", user))["items"]] == ["Unacknowledged"]
                return router.reads.get(("replica", "fresh"), 0) > before or None
            await eventually(on_the_replica, "the user read on the replica again once it replayed", timeout=20)
        finally:
            proxy.heal()
            await proxy.stop()
            await owner.close()
