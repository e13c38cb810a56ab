"""Two database roles (issue 15 point 6, README "Database roles"): the owner migrates and
grants, the serving role serves without superuser, CREATEROLE, CREATEDB or any DDL, and
the whole API works under it: the smoke flow, admin reads, jobs (direct connection,
advisory locks, maintenance), login throttling and the cache's NOTIFY feed.

The suite's superuser only creates the roles and the database, as `python run.py` does
on its embedded server (db/embedded.py ensure_service_database). The roles have no
password: they log in over the embedded server's trust socket, so these tests need it
(with TEST_DATABASE_URL they are skipped)."""
from __future__ import annotations

import asyncio
import secrets

import asyncpg
import pytest
from checks import eventually
from conftest import Api
from dbutil import create_database, drop_database
from jobutil import wait_for, wait_job, worker_settings

from service.app import create_app
from service.db import roles
from service.db.embedded import OWNER_ROLE, SERVING_ROLE, ensure_service_database


@pytest.fixture
def embedded(pg_server):
    admin_url, server = pg_server
    if server is None:
        pytest.skip("the roles log in without a password over the embedded server's socket")
    return admin_url, server


@pytest.fixture
async def two_roles(embedded, settings):
    """A fresh database owned by the owner role, migrated as the owner and granted to the
    serving role; settings that serve as the serving role (and may migrate as the owner)."""
    admin_url, server = embedded
    name = f"cj_roles_{secrets.token_hex(4)}"
    serving_url, owner_url = await ensure_service_database(server, name)
    served = settings.replace(database_url=serving_url, database_owner_url=owner_url)
    prepared = await roles.prepare(served)
    assert prepared.applied and prepared.owner_role == OWNER_ROLE
    try:
        yield served, prepared
    finally:
        await drop_database(admin_url, name)


async def _as(url: str, statement: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(statement, *args)
    finally:
        await conn.close()


async def test_the_serving_role_is_unprivileged_and_cannot_change_the_schema(two_roles):
    served, prepared = two_roles
    assert prepared.serving.role == SERVING_ROLE
    assert prepared.serving.privileged == [] and prepared.warning() is None
    facts = (await _as(served.database_url, "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                                            "WHERE rolname = current_user"))[0]
    assert list(facts.values()) == [False, False, False]
    refused = [
        "CREATE TABLE intruder (id int)",
        "CREATE TABLE public.intruder (id int)",
        "DROP TABLE posts",
        "ALTER TABLE posts ADD COLUMN intruder int",
        "ALTER TABLE users DROP COLUMN email",
        "CREATE INDEX intruder ON posts (content)",
        "TRUNCATE posts",
        "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "DROP FUNCTION notify_cache_invalidation() CASCADE",
        "CREATE ROLE intruder",
        "CREATE DATABASE intruder",
        "ALTER ROLE CURRENT_USER SUPERUSER",
        "DELETE FROM schema_migrations",
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'x', 'x')",
    ]
    for statement in refused:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await _as(served.database_url, statement)
    # What it may do: rows, and reading the migration ledger (readiness).
    assert (await _as(served.database_url, "SELECT count(*) AS n FROM schema_migrations"))[0]["n"] > 0
    # The owner may do DDL: it is the one that migrates.
    await _as(served.owner_url, "CREATE TABLE owner_may (id int)")
    await _as(served.owner_url, "DROP TABLE owner_may")


async def test_the_serving_roles_session_defaults_are_its_own(two_roles):
    """Behind PgBouncer the session settings come from the role's defaults in the database:
    the serving role's, written by itself (no CREATEROLE anywhere)."""
    served, _ = two_roles
    rows = await _as(served.owner_url, """
        SELECT r.rolname, s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
        WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())""")
    by_role = {r["rolname"]: set(r["setconfig"]) for r in rows}
    assert {f"statement_timeout={served.db_statement_timeout_ms}", "plan_cache_mode=force_custom_plan"} \
        <= by_role[SERVING_ROLE]
    fresh = await _as(served.database_url, "SELECT current_setting('plan_cache_mode') AS v")
    assert fresh[0]["v"] == "force_custom_plan"


async def test_the_whole_api_works_as_the_serving_role(two_roles, aiohttp_client):
    served, _ = two_roles
    settings = worker_settings(served, cache_enabled=True, jobs_maintenance_interval_s=86398.0)
    app = create_app(settings)
    api = Api(await aiohttp_client(app), served.owner_url)      # the owner makes the admin
    other = Api(await aiohttp_client(create_app(settings.replace(jobs_worker=False))), served.owner_url)

    # Every connection of both instances (pool, LISTEN, job wake-ups) is the serving role's.
    user, admin = await api.user(), await api.user(admin=True)
    sessions = await _as(served.owner_url, """
        SELECT DISTINCT usename FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()""")
    assert {r["usename"] for r in sessions} == {SERVING_ROLE}

    # Smoke flow: clients, projects, runs, posts, search, patch, delete.
    client = await api.post("/api/clients", user, json={"name": "Roles Inc"})
    project = await api.post("/api/projects", user, json={"client_id": client["id"], "name": "Least privilege"})
    run = await api.post(f"/api/projects/{project['id']}/runs", user, json={})
    posts = (await api.post("/api/posts", user, json={"items": [
        {"project_id": project["id"], "run_id": run["id"], "content": f"granted rows only {i}"}
        for i in range(5)]}))["items"]
    assert (await api.get(f"/api/posts?project_id={project['id']}", user))["metadata"]["total"] == 5
    assert len((await api.get("/api/posts?search=granted", user))["items"]) == 5
    await api.patch(f"/api/posts/{posts[0]['id']}", user, json={"status": "approved"})
    await api.patch(f"/api/runs/{run['id']}", user, json={"status": "succeeded"})
    await api.delete(f"/api/posts/{posts[1]['id']}", user)
    assert (await api.get(f"/api/projects/{project['id']}", user))["post_counts"]["total"] == 4

    # The cache's NOTIFY feed under the serving role: the second instance drops its cached
    # list when the first one writes.
    listing = f"/api/posts?project_id={project['id']}"
    assert (await other.get(listing, user))["metadata"]["total"] == 4
    assert (await other.get("/api/health/cache", admin))["coherent"] is True
    await api.post("/api/posts", user, json={"project_id": project["id"], "content": "heard through NOTIFY"})

    async def refreshed():
        return (await other.get(listing, user))["metadata"]["total"] == 5
    await eventually(refreshed, "the other instance serves the post-write list")

    # Jobs: an export (claimed with SKIP LOCKED, woken by LISTEN), its result, and the
    # maintenance job (advisory slot) of this worker.
    job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202, json={"format": "csv"})
    done = await wait_job(api, user, job["id"])
    assert done["status"] == "succeeded", done
    resp, _ = await api.call("GET", f"/api/jobs/{job['id']}/result", user, expect=200)
    assert (await resp.text()).count("\n") >= 6           # header + 5 posts

    async def maintained():
        rows = await _as(served.owner_url, "SELECT status FROM jobs WHERE kind = 'maintenance'")
        return rows and all(r["status"] == "succeeded" for r in rows)
    await wait_for(maintained, timeout=60, what="the maintenance job")

    # Login throttling writes and reads its table as the serving role.
    for _ in range(2):
        await api.call("POST", "/api/auth/login", expect=401, json={"email": user.email, "password": "wrong-pass"})
    failures = await _as(served.owner_url, "SELECT count(*) AS n FROM login_failures")
    assert failures[0]["n"] >= 2

    # A report job (delivery email into the outbox), the job list, a cancel.
    report = await api.post(f"/api/projects/{project['id']}/reports", user, expect=202, json={})
    assert (await wait_job(api, user, report["id"]))["status"] == "succeeded"
    assert len((await api.get("/api/jobs", user))["items"]) >= 2
    queued = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202, json={"format": "jsonl"})
    await api.call("POST", f"/api/jobs/{queued['id']}/cancel", user)
    assert (await wait_job(api, user, queued["id"]))["status"] in ("succeeded", "cancelled")

    # The admin's health reads (pool, server, profiling, jobs, cache), readiness and metrics.
    for path in ("/api/health/full", "/api/health/database", "/api/health/jobs", "/api/health/profiling",
                 "/api/health/profiling/queries", "/api/health/database/events", "/api/health/ready",
                 "/api/runs", "/api/clients", "/api/projects", "/api/auth/me"):
        await api.get(path, admin)
    await api.call("POST", "/api/health/cache/clear", admin, expect=200)
    await api.call("GET", "/metrics", admin, expect=200)

    # Updates and deletes down the tree (the foreign keys' cascades run as the serving role's delete).
    await api.patch(f"/api/clients/{client['id']}", user, json={"name": "Renamed"})
    await api.patch(f"/api/projects/{project['id']}", user, json={"name": "Renamed too"})
    await api.delete(f"/api/projects/{project['id']}", user)
    await api.delete(f"/api/clients/{client['id']}", user)
    await api.get(f"/api/posts/{posts[0]['id']}", user, expect=404)
    await api.call("POST", "/api/auth/logout", user, expect=204)


async def test_serving_alone_refuses_pending_migrations_and_serves_when_there_are_none(two_roles):
    """A deployment that keeps the owner's URL out of the serving processes (compose's
    `migrate` step): serve checks, and says what to run when a migration is pending."""
    served, _ = two_roles
    alone = served.replace(database_owner_url=None)
    prepared = await roles.prepare(alone)
    assert prepared.applied == [] and prepared.serving.role == SERVING_ROLE
    await _as(served.owner_url, "DELETE FROM schema_migrations WHERE version = (SELECT max(version) "
                                "FROM schema_migrations)")
    from service.db.migrations import MigrationError
    with pytest.raises(MigrationError, match="DATABASE_OWNER_URL"):
        await roles.prepare(alone)


async def test_a_database_made_by_the_superuser_is_handed_to_the_owner(embedded, settings):
    """./var/pgdata from before the roles: tables, functions and the database belong to
    `postgres`; the embedded start hands them to the owner, which then migrates and grants."""
    admin_url, server = embedded
    name = f"cj_roles_old_{secrets.token_hex(4)}"
    await create_database(admin_url, name, migrate=True)        # the old layout, all the superuser's
    try:
        serving_url, owner_url = await ensure_service_database(server, name)
        owners = await _as(owner_url, """
            SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class
            WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S', 'p')""")
        assert {r["owner"] for r in owners} == {OWNER_ROLE}
        prepared = await roles.prepare(settings.replace(database_url=serving_url, database_owner_url=owner_url))
        assert prepared.applied == [] and prepared.serving.privileged == []
        await _as(serving_url, "INSERT INTO users (email, password_hash) VALUES ('old@example.com', 'x')")
        # Idempotent: a second start changes nothing and still works.
        assert await ensure_service_database(server, name) == (serving_url, owner_url)
    finally:
        await drop_database(admin_url, name)


async def test_one_superuser_url_still_works_and_is_warned_about(settings):
    """The suite's own configuration: one superuser role for everything (as before)."""
    prepared = await roles.prepare(settings)
    assert prepared.serving.superuser
    assert "superuser" in prepared.warning() and "DATABASE_OWNER_URL" in prepared.warning()


async def test_concurrent_starts_are_safe(two_roles):
    """Workers and instances start together: migrations under the lock, idempotent grants."""
    served, _ = two_roles
    results = await asyncio.gather(roles.prepare(served), roles.prepare(served))
    assert all(r.applied == [] for r in results)
