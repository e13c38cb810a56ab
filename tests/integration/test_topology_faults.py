"""A connection lost under a statement (pg_terminate_backend: the AdminShutdownError of
a server restart, 57P01) answers 503 with Retry-After, never 500; an idempotent read
that loses its connection is retried once on a connection the pool has just checked.

The statements are held at a known point with locks the test owns, and the backend
serving the request is found in pg_stat_activity and terminated there: no timing."""
from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from conftest import Api
from dbutil import scratch_database

from service.app import create_app

WAIT_LOCK = 0x7E57_0009
APPLICATION = "content-jumpstart-api"
DEADLINE_S = 30.0

# A deferred constraint trigger that waits, at COMMIT, for an advisory lock the test holds.
WAIT_AT_COMMIT = f"""
CREATE FUNCTION test_wait_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({WAIT_LOCK});
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER test_wait_at_commit AFTER INSERT ON projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_wait_at_commit();
"""


@pytest.fixture
async def own_database(pg_server):
    """A migrated database of its own: the tests add a trigger and take table locks."""
    async with scratch_database(pg_server[0], "cj_faults") as url:
        yield url


async def _blocked_backend(conn: asyncpg.Connection, *, not_pid: int | None = None) -> int:
    """The pid of the service's backend waiting on a lock (polled, with a deadline)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' "
            "AND pid IS DISTINCT FROM $2 AND datname = current_database() LIMIT 1", APPLICATION, not_pid)
        if pid is not None:
            return pid
        await asyncio.sleep(0.05)
    raise AssertionError("no backend of the service blocked on the test's lock")


async def test_connection_terminated_at_commit_answers_503_with_retry_after_not_500(
        own_database, settings, aiohttp_client):
    """The 500 of the issue: AdminShutdownError raised by COMMIT escaped untranslated. (A
    project is created in a transaction: its client checked, the row inserted and read back.)"""
    api = Api(await aiohttp_client(create_app(settings.replace(database_url=own_database))), own_database)
    user = await api.user()
    client = await api.client_of(user)
    admin = await asyncpg.connect(own_database)
    try:
        await admin.execute(WAIT_AT_COMMIT)
        await admin.execute("SELECT pg_advisory_lock($1)", WAIT_LOCK)
        request = asyncio.create_task(api.call("POST", "/api/projects", user,
                                               json={"client_id": client["id"], "name": "Held at commit"}))
        pid = await _blocked_backend(admin)
        assert await admin.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid) == "COMMIT;"
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        resp, body = await asyncio.wait_for(request, DEADLINE_S)
        assert resp.status == 503, body
        assert resp.headers["Retry-After"] == "1"
        assert body["error"]["code"] == "database_unavailable"
        # Not acknowledged, and indeed not written.
        assert await admin.fetchval("SELECT count(*) FROM projects WHERE name = 'Held at commit'") == 0
        await admin.execute("SELECT pg_advisory_unlock($1)", WAIT_LOCK)
        # The service goes on: the next write commits.
        await api.post("/api/projects", user, json={"client_id": client["id"], "name": "After the fault"})
    finally:
        await admin.close()


async def test_write_whose_connection_is_terminated_mid_statement_answers_503_and_is_not_retried(
        own_database, settings, aiohttp_client):
    api = Api(await aiohttp_client(create_app(settings.replace(database_url=own_database))), own_database)
    user = await api.user()
    admin = await asyncpg.connect(own_database)
    try:
        async with admin.transaction():
            await admin.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
            request = asyncio.create_task(api.call("POST", "/api/clients", user, json={"name": "Held"}))
            pid = await _blocked_backend(admin)
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            resp, body = await asyncio.wait_for(request, DEADLINE_S)
            assert resp.status == 503 and resp.headers["Retry-After"] == "1", body
            # Not retried: no other backend of the service came to wait on the lock.
            assert await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                APPLICATION) == 0
        assert await admin.fetchval("SELECT count(*) FROM clients WHERE name = 'Held'") == 0
    finally:
        await admin.close()


async def test_read_whose_connection_is_terminated_mid_statement_is_retried_once_and_answers(
        own_database, settings, aiohttp_client):
    api = Api(await aiohttp_client(create_app(settings.replace(database_url=own_database))), own_database)
    user = await api.user()
    client = await api.client_of(user, name="Read me")
    admin = await asyncpg.connect(own_database)
    try:
        lock = admin.transaction()
        await lock.start()
        await admin.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
        request = asyncio.create_task(api.call("GET", f"/api/clients/{client['id']}", user))
        first = await _blocked_backend(admin)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        # The retry: another backend comes to wait on the same lock.
        second = await _blocked_backend(admin, not_pid=first)
        assert second != first
        await lock.rollback()
        resp, body = await asyncio.wait_for(request, DEADLINE_S)
        assert resp.status == 200, body
        assert body["name"] == "Read me"
    finally:
        await admin.close()


async def test_read_that_loses_its_connection_twice_answers_503(own_database, settings, aiohttp_client):
    """Retried once, not more: the second loss is the answer."""
    api = Api(await aiohttp_client(create_app(settings.replace(database_url=own_database))), own_database)
    user = await api.user()
    client = await api.client_of(user, name="Twice")
    admin = await asyncpg.connect(own_database)
    try:
        async with admin.transaction():
            await admin.execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
            request = asyncio.create_task(api.call("GET", f"/api/clients/{client['id']}", user))
            first = await _blocked_backend(admin)
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
            second = await _blocked_backend(admin, not_pid=first)
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", second)
            resp, body = await asyncio.wait_for(request, DEADLINE_S)
            assert resp.status == 503 and resp.headers["Retry-After"] == "1", body
    finally:
        await admin.close()
