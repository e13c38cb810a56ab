"""Admin monitoring endpoints: who may call them, what they report, bad filters."""
from __future__ import annotations

import pytest

from service import keys

ADMIN_GETS = ("/api/health/database", "/api/health/database/events", "/api/health/profiling",
              "/api/health/profiling/queries", "/api/health/profiling/slow-queries", "/api/health/full")
ADMIN_POSTS = ("/api/health/profiling/reset",)


async def test_every_monitoring_endpoint_is_admin_only(api):
    user = await api.user()
    admin = await api.user(admin=True)
    for method, paths in (("GET", ADMIN_GETS), ("POST", ADMIN_POSTS)):
        for path in paths:
            _, body = await api.call(method, path, expect=401)
            assert body["error"]["code"] == "unauthorized"
            _, body = await api.call(method, path, user, expect=403)
            assert body["error"]["code"] == "forbidden"
            await api.call(method, path, admin, expect=200)
    for path in ("/api/health", "/api/health/live", "/api/health/ready"):
        await api.call("GET", path, expect=200)


async def test_database_report_has_pool_state_status_and_settings(api):
    admin = await api.user(admin=True)
    resp, body = await api.call("GET", "/api/health/database", admin, expect=200)
    pool = body["pool"]
    assert set(pool) >= {"size", "idle", "in_use", "overflow", "waiting", "max", "utilization_percent", "status"}
    assert pool["max"] == 10 and pool["in_use"] == 0            # nothing holds a connection between queries
    assert pool["size"] >= 2 and pool["idle"] == pool["size"]
    assert pool["utilization_percent"] == 0.0 and body["status"] == pool["status"] == "healthy"
    assert body["settings"]["pool_size"] == 2 and body["settings"]["max_overflow"] == 8
    assert body["server"]["max_connections"] >= 10
    assert body["recommendations"] and all({"severity", "message"} <= set(r) for r in body["recommendations"])
    assert not any("max_connections" in r["message"] for r in body["recommendations"])   # 1 x 11 fits
    assert "db;dur=" in resp.headers["Server-Timing"]


async def test_pool_that_cannot_fit_max_connections_is_reported(make_api, settings):
    api = await make_api(settings.replace(workers=64, db_max_overflow=1000))
    admin = await api.user(admin=True)
    body = await api.get("/api/health/database", admin)
    critical = [r["message"] for r in body["recommendations"] if r["severity"] == "critical"]
    assert any("max_connections" in m and "64 worker" in m for m in critical), body["recommendations"]


async def test_events_report_counters_and_timings(api):
    admin = await api.user(admin=True)
    body = await api.get("/api/health/database/events", admin)
    for name in ("connects", "disconnects", "acquires", "releases", "acquire_timeouts", "pre_ping_failures",
                 "recycles", "leaks_suspected", "waiting", "peak_in_use"):
        assert isinstance(body[name], int), name
    for timing in ("acquire_wait_ms", "hold_ms"):
        assert set(body[timing]) == {"count", "avg", "p95", "max"}
    assert body["acquires"] >= 1 and body["worker"]["pid"] > 0


async def test_full_reports_everything_and_503_when_the_database_is_down(api, database_url):
    admin = await api.user(admin=True)
    body = await api.get("/api/health/full", admin)
    assert body["status"] == "healthy" and body["checks"]["database"] == "ok"
    assert {"pool", "profiling", "cache", "database", "worker"} <= set(body)
    assert body["profiling"]["total_queries"] >= 1
    # The server becomes unreachable: existing connections go, new ones fail.
    pool = api.client.app[keys.DB].pool
    pool.raw.set_connect_args(dsn="postgresql://nobody@127.0.0.1:1/none")
    await pool.raw.expire_connections()
    _, body = await api.call("GET", "/api/health/full", admin, expect=503)   # the token itself is cached
    assert body["status"] == "unhealthy" and body["checks"]["database"] == "down"
    assert body["database"]["error"]
    pool.raw.set_connect_args(dsn=database_url)
    assert (await api.get("/api/health/full", admin))["status"] == "healthy"


@pytest.mark.parametrize("path", [
    "/api/health/profiling/queries?limit=0",
    "/api/health/profiling/queries?limit=abc",
    "/api/health/profiling/queries?limit=1001",
    "/api/health/profiling/queries?min_execution_count=-1",
    "/api/health/profiling/queries?min_avg_time_ms=-0.5",
    "/api/health/profiling/queries?min_avg_time_ms=nan",
    "/api/health/profiling/queries?only_slow=maybe",
    "/api/health/profiling/queries?sort=fast",
    "/api/health/profiling/slow-queries?since_minutes=-5",
    "/api/health/profiling/slow-queries?very_slow_only=2",
    "/api/health/profiling/slow-queries?limit=x",
])
async def test_bad_filters_are_400(api, path):
    admin = await api.user(admin=True)
    _, body = await api.call("GET", path, admin, expect=400)
    assert body["error"]["code"] == "invalid_parameter" and body["error"]["field"]


async def test_ready_is_503_while_a_shipped_migration_is_pending(make_api, settings, pg_server, tmp_path):
    """Readiness compares the database with the migration files this code ships."""
    import shutil

    import asyncpg
    from dbutil import scratch_database

    from service.db.migrations import MIGRATIONS_DIR, apply_migrations

    *earlier, last = sorted(MIGRATIONS_DIR.glob("*.sql"))
    for path in earlier:
        shutil.copy(path, tmp_path / path.name)
    async with scratch_database(pg_server[0], "cj_ready", migrate=False) as url:
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn, tmp_path)          # everything but the last file
            api = await make_api(settings.replace(database_url=url))
            resp, body = await api.call("GET", "/api/health/ready", expect=503)
            assert body["error"]["code"] == "not_ready" and last.name in body["error"]["message"]
            assert "Retry-After" in resp.headers
            await apply_migrations(conn)
            await api.call("GET", "/api/health/ready", expect=200)
        finally:
            await conn.close()
