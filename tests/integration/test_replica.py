"""The read replica (issue 9 part 2, db/routing.py) against a real streaming standby.

Which server answered is proven by content: with the standby's replay paused, a row
written straight to the primary (SQL, no API write, so nobody's fence moves) is missing
from an answer only the replica can have given, and present in one from the primary.
The reads-by-target counters of /api/health/database agree.
"""
from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import asyncpg
import pytest
from checks import eventually
from conftest import replay_everything, streaming_standby

pytestmark = pytest.mark.usefixtures("standby")


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


@pytest.fixture
def replica_settings(settings, standby, database_url):
    """Settings with the standby as DATABASE_REPLICA_URL; the cache off unless a test turns it on."""
    return settings.replace(database_replica_url=standby.url(_database_name(database_url)),
                            db_replica_max_lag_s=60.0, cache_enabled=False)


@pytest.fixture
async def replayed(standby, database_url):
    """`await replayed()`: until the standby has replayed everything the primary has written."""
    async def wait() -> None:
        await replay_everything(standby, database_url)
    return wait


@pytest.fixture
def paused(standby):
    """Replay paused for the test (resumed at the end whatever happens)."""
    standby.pause_replay()
    try:
        yield standby
    finally:
        standby.resume_replay()


async def replica_view(api, admin) -> dict:
    return (await api.get("/api/health/database", admin))["replica"]


def reads(view: dict, target: str, reason: str) -> int:
    return view["reads"].get(target, {}).get(reason, 0)


async def until_routed_to_replica(api, user, admin, path: str) -> dict:
    """GET path as user until the router sends it to the replica (its fence is replayed).
    A query parameter of its own each time keeps the response cache out of the way."""
    attempts = iter(range(1, 1_000_000))

    async def routed():
        before = reads(await replica_view(api, admin), "replica", "fresh")
        body = await api.get(f"{path}{'&' if '?' in path else '?'}search=probe-{next(attempts)}", user)
        after = reads(await replica_view(api, admin), "replica", "fresh")
        return body if after > before else None
    return await eventually(routed, f"{path} read on the replica", timeout=60, interval=0.2)


async def client_named(database_url, owner_id: str, name: str) -> str:
    """A client inserted straight into the primary: no API write, no fence moves."""
    conn = await asyncpg.connect(database_url)
    try:
        return str(await conn.fetchval(
            "INSERT INTO clients (owner_id, name) VALUES ($1::uuid, $2) RETURNING id", owner_id, name))
    finally:
        await conn.close()


async def test_fresh_replica_answers_lists_and_details(make_api, replica_settings, database_url, replayed, standby):
    api = await make_api(replica_settings)
    admin, user = await api.user(admin=True), await api.user()
    client = await api.client_of(user)
    await replayed()
    await until_routed_to_replica(api, user, admin, "/api/clients")
    assert standby.sql("SELECT pg_is_in_recovery()") == "t"

    standby.pause_replay()
    try:
        hidden = await client_named(database_url, user.id, "written on the primary only")
        listed = await api.get("/api/clients", user)
        ids = {item["id"] for item in listed["items"]}
        assert client["id"] in ids and hidden not in ids, "the list was not answered by the paused replica"
        # A detail of the hidden row: 404 from the replica, which has not replayed it.
        await api.get(f"/api/clients/{hidden}", user, expect=404)
        await api.get(f"/api/clients/{client['id']}", user)
    finally:
        standby.resume_replay()
    await replayed()
    await eventually(lambda: _status(api, user, f"/api/clients/{hidden}", 200), "hidden row replayed")
    view = await replica_view(api, admin)
    assert view["configured"] and view["state"] == "up", view
    assert reads(view, "replica", "fresh") >= 3, view


async def test_read_your_writes_with_replay_paused(make_api, replica_settings, replayed, paused):
    """A user's reads after their own write come from the primary, on this instance and on
    another one (the fence is in the primary, not in a process); another user's reads
    still go to the replica."""
    one, other_instance = await make_api(replica_settings), await make_api(replica_settings)
    admin = await one.user(admin=True)
    writer, bystander = await one.user(), await one.user()
    # The replica is paused: it has not replayed this client, and 404 would be its answer.
    created = await one.post("/api/clients", writer, json={"name": "mine"})
    before = await replica_view(one, admin)
    for api in (one, other_instance):
        detail = await api.get(f"/api/clients/{created['id']}", writer)
        assert detail["name"] == "mine"
        listed = await api.get("/api/clients", writer)
        assert [item["id"] for item in listed["items"]] == [created["id"]]
    after_one = await replica_view(one, admin)
    assert reads(after_one, "primary", "own_write") >= reads(before, "primary", "own_write") + 2, after_one
    updated = await other_instance.patch(f"/api/clients/{created['id']}", writer, json={"name": "renamed"})
    assert updated["name"] == "renamed"
    for api in (other_instance, one):
        assert (await api.get(f"/api/clients/{created['id']}", writer))["name"] == "renamed"

    # The bystander has written nothing: the (paused, but within DB_REPLICA_MAX_LAG_S)
    # replica answers them.
    fresh_before = reads(await replica_view(one, admin), "replica", "fresh")
    listed = await one.get("/api/clients", bystander)
    assert listed["items"] == []
    assert reads(await replica_view(one, admin), "replica", "fresh") == fresh_before + 1


async def test_lagging_replica_is_bypassed_and_comes_back(make_api, replica_settings, database_url, standby,
                                                          replayed):
    api = await make_api(replica_settings.replace(db_replica_max_lag_s=1.0))
    admin, user = await api.user(admin=True), await api.user()
    await replayed()
    await until_routed_to_replica(api, user, admin, "/api/clients")
    standby.pause_replay()
    try:
        # The primary moves on (a row nobody's fence covers); the replica does not.
        hidden = await client_named(database_url, user.id, "after the pause")
        view = await eventually(lambda: _state_is(api, admin, "lagging"), "replica reported lagging")
        assert view["lag_s"] > 1.0 and view["available"] is False, view
        metrics = (await api.client.get("/metrics")).text
        text = await metrics()
        assert re.search(r"^cj_db_replica_available\{[^}]*\} 0\.0$", text, re.M), text[-3000:]
        lag = float(re.search(r"^cj_db_replica_lag_seconds\{[^}]*\} (\S+)$", text, re.M).group(1))
        assert lag > 1.0
        listed = await api.get("/api/clients", user)
        assert hidden in {item["id"] for item in listed["items"]}, "a lagging replica answered"
        view = await replica_view(api, admin)
        assert reads(view, "primary", "lagging") >= 1, view
        assert re.search(r'^cj_db_replica_reads_total\{[^}]*reason="lagging"[^}]*target="primary"[^}]*\} [1-9]',
                         (await (await api.client.get("/metrics")).text()), re.M)
    finally:
        standby.resume_replay()
    view = await eventually(lambda: _state_is(api, admin, "up"), "replica up again after replay resumed")
    assert view["lag_s"] <= 1.0


async def _state_is(api, admin, state: str) -> dict | None:
    view = await replica_view(api, admin)
    return view if view["state"] == state else None


async def test_stopped_replica_reads_keep_answering_and_it_comes_back(make_api, replica_settings, standby,
                                                                      replayed):
    api = await make_api(replica_settings)
    admin, user = await api.user(admin=True), await api.user()
    client = await api.client_of(user)
    await replayed()
    await until_routed_to_replica(api, user, admin, "/api/clients")
    standby.stop()
    try:
        # Whatever the monitor has noticed yet: every read answers, from the primary.
        for _ in range(5):
            listed = await api.get("/api/clients", user)
            assert [item["id"] for item in listed["items"]] == [client["id"]]
            assert (await api.get(f"/api/clients/{client['id']}", user))["id"] == client["id"]
        view = await eventually(lambda: _state_is(api, admin, "down"), "replica reported down")
        assert view["available"] is False and view["last_error"], view
        text = await (await api.client.get("/metrics")).text()
        assert re.search(r"^cj_db_replica_available\{[^}]*\} 0\.0$", text, re.M)
        await api.get("/api/clients", user)
        assert reads(await replica_view(api, admin), "primary", "down") >= 1
    finally:
        standby.start()
        standby.wait_streaming()
    await eventually(lambda: _state_is(api, admin, "up"), "replica up again by itself", timeout=60)
    await until_routed_to_replica(api, user, admin, "/api/clients")
    text = await (await api.client.get("/metrics")).text()
    assert re.search(r"^cj_db_replica_available\{[^}]*\} 1\.0$", text, re.M)


async def test_cache_stays_coherent_with_a_lagging_replica(make_api, replica_settings, replayed, standby):
    """An invalidation followed by a read on a replica that has not replayed the write:
    that (old) answer must not be cached, or it would outlive the replica's catching up."""
    api = await make_api(replica_settings.replace(cache_enabled=True))
    admin, user = await api.user(admin=True), await api.user()
    client = await api.client_of(user, name="v1")
    await replayed()
    await until_routed_to_replica(api, user, admin, "/api/clients")
    await api.get(f"/api/clients/{client['id']}", user)          # cached
    standby.pause_replay()
    try:
        # The admin's write invalidates the user's entries; the user has no fence.
        await api.patch(f"/api/clients/{client['id']}", admin, json={"name": "v2"})
        stale = await api.get(f"/api/clients/{client['id']}", user)
        assert stale["name"] == "v1", "expected the paused replica's answer (within the lag limit)"
    finally:
        standby.resume_replay()
    await replayed()
    # Once the replica has replayed the write, the user sees it: the old answer read after
    # the invalidation was not cached.
    await eventually(lambda: _named(api, user, client["id"], "v2"), "the renamed client", timeout=10)


@pytest.fixture
def promotable(pg_server):
    """A standby of its own for a test that promotes it (the session's standby stays one)."""
    with streaming_standby(pg_server, "cj-promoted-") as replica:
        yield replica


async def test_promoted_replica_is_bypassed(make_api, settings, database_url, promotable):
    """A replica promoted to a primary of its own (a failover drill, or a mistake) stops
    replaying: what the primary commits next never reaches it. The monitor finds it out of
    recovery and reads go to the primary, which has the rows written after the promotion."""
    api = await make_api(settings.replace(database_replica_url=promotable.url(_database_name(database_url)),
                                          db_replica_max_lag_s=60.0, cache_enabled=False))
    admin, user = await api.user(admin=True), await api.user()
    client = await api.client_of(user)
    await replay_everything(promotable, database_url)
    await until_routed_to_replica(api, user, admin, "/api/clients")

    await asyncio.to_thread(promotable.promote)
    assert promotable.sql("SELECT pg_is_in_recovery()") == "f"
    hidden = await client_named(database_url, user.id, "written after the promotion")
    view = await eventually(lambda: _state_is(api, admin, "down"), "promoted replica reported down")
    assert view["available"] is False and "promoted" in view["last_error"], view
    down_before = reads(view, "primary", "down")
    listed = await api.get("/api/clients", user)
    assert {item["id"] for item in listed["items"]} == {client["id"], hidden}
    assert (await api.get(f"/api/clients/{hidden}", user))["id"] == hidden
    assert reads(await replica_view(api, admin), "primary", "down") >= down_before + 2
    # It stays bypassed: a promoted server never becomes a standby again by itself.
    await asyncio.sleep(1.5)
    assert (await replica_view(api, admin))["state"] == "down"


async def _status(api, user, path: str, status: int) -> bool:
    return (await api.call("GET", path, user))[0].status == status


async def _named(api, user, client_id: str, name: str) -> bool:
    return (await api.get(f"/api/clients/{client_id}", user))["name"] == name


async def test_unconfigured_replica_block(api):
    admin = await api.user(admin=True)
    view = (await api.get("/api/health/database", admin))["replica"]
    assert view["configured"] is False and view["state"] == "off"
