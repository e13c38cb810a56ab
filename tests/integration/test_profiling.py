"""The query profiler on a real PostgreSQL: normalization, per-pattern statistics,
the slow log (no parameter values), per-request N+1 detection, on/off and reset.
"""
from __future__ import annotations

import pytest
from aiohttp import web
from conftest import Api

from service import keys
from service.app import create_app
from service.db.registry import Query, query
from service.http.responses import json_response
from service.observability.profiling import normalize_sql, query_hash

SLEEP = Query("tests/sleep", "-- test only\nSELECT pg_sleep($1::float8)", params=("seconds",))
CLIENT_BY_ID = query("clients/get")


async def sleep_route(request: web.Request) -> web.Response:
    await request.app[keys.DB].fetchval(SLEEP, seconds=float(request.query["s"]))
    return json_response(request, {})


async def loop_route(request: web.Request) -> web.Response:
    """An N+1 on purpose: one query per item instead of one for all."""
    db = request.app[keys.DB]
    for _ in range(int(request.query["n"])):
        await db.fetchval(SLEEP, seconds=0.0)
    return json_response(request, {})


@pytest.fixture
def build(aiohttp_client, database_url):
    async def make(custom) -> tuple[Api, web.Application]:
        app = create_app(custom)
        app.router.add_get("/test/sleep", sleep_route)
        app.router.add_get("/test/loop", loop_route)
        return Api(await aiohttp_client(app), database_url), app
    return make


def test_normalize_folds_whitespace_comments_and_literals():
    text = """-- header: it's a comment with 'quotes' and 42
    SELECT a1,  'it''s -- not a comment',  3.5e2, $1 , $$x$$
      FROM   t /* block 7 */ WHERE id = 42 AND b IN (1, 2) LIMIT $2;"""
    assert normalize_sql(text) == "SELECT a1, ?, ?, $1 , ? FROM t WHERE id = ? AND b IN (?, ?) LIMIT $2"


def test_query_hash_is_stable_and_shape_sensitive():
    same = query_hash("posts/get", normalize_sql("SELECT * FROM posts WHERE id = 1"))
    assert same == query_hash("posts/get", normalize_sql("SELECT *   FROM posts WHERE id = 99"))
    assert same != query_hash("posts/get", normalize_sql("SELECT * FROM projects WHERE id = 1"))
    assert len(same) == 12 and int(same, 16) >= 0


async def test_slow_log_keeps_endpoint_and_request_id_but_no_parameter_values(build, settings):
    api, _ = await build(settings.replace(slow_query_threshold_ms=50, very_slow_query_threshold_ms=600000))
    admin = await api.user(admin=True)
    await api.call("GET", "/test/sleep?s=0.1234", headers={"X-Request-ID": "slow-req-7"}, expect=200)
    body = await api.get("/api/health/profiling/slow-queries", admin)
    [entry] = [e for e in body["items"] if e["name"] == "tests/sleep"]
    assert entry["endpoint"] == "/test/sleep" and entry["request_id"] == "slow-req-7"
    assert entry["duration_ms"] >= 120 and entry["is_very_slow"] is False
    assert entry["query"] == "SELECT pg_sleep($1::float8)"       # normalized: comment gone, $1 kept
    assert entry["timestamp"].endswith("+00:00")
    for path in ("/api/health/profiling/slow-queries", "/api/health/profiling", "/api/health/profiling/queries"):
        raw = await (await api.client.get(path, headers=admin.headers)).text()
        assert "0.1234" not in raw, path
    very = await api.get("/api/health/profiling/slow-queries?very_slow_only=true", admin)
    assert very["items"] == []


async def test_every_pattern_is_counted_with_times_rows_and_slow_counts(build, settings):
    # Timing assertions are lower bounds (pg_sleep sleeps at least that long) or compare
    # executions far apart (0 and 10 ms against 2.5 s, the very-slow line at 2 s): a saturated machine cannot break them.
    api, _ = await build(settings.replace(slow_query_threshold_ms=0, very_slow_query_threshold_ms=2000))
    admin = await api.user(admin=True)
    for seconds in ("0", "0.01", "2.5"):
        await api.call("GET", f"/test/sleep?s={seconds}", expect=200)
    body = await api.get("/api/health/profiling/queries?limit=1000", admin)
    [sleep] = [item for item in body["items"] if item["name"] == "tests/sleep"]
    assert sleep["execution_count"] == 3 and sleep["rows"] == 3
    assert sleep["slow_count"] == 3 and sleep["very_slow_count"] == 1      # threshold 0 records every query
    assert sleep["min_time_ms"] < 2000 and sleep["max_time_ms"] >= 2500 and sleep["avg_time_ms"] >= 2510 / 3
    assert sleep["p95_time_ms"] == sleep["max_time_ms"]
    assert abs(sleep["total_time_ms"] - sleep["avg_time_ms"] * 3) < 0.01
    assert sleep["query_hash"] == query_hash("tests/sleep", "SELECT pg_sleep($1::float8)")
    report = await api.get("/api/health/profiling", admin)
    assert report["summary"]["total_queries"] >= 3 and report["summary"]["very_slow_queries"] >= 1
    assert "tests/sleep" in [q["name"] for q in report["top_slowest_queries"]]
    assert report["thresholds"] == {"slow_query_ms": 0, "very_slow_query_ms": 2000, "n_plus_one": 5,
                                    "max_slow_queries": 100}
    # filters
    many = await api.get("/api/health/profiling/queries?min_execution_count=3", admin)
    assert all(item["execution_count"] >= 3 for item in many["items"])
    heavy = await api.get("/api/health/profiling/queries?min_avg_time_ms=500", admin)
    assert "tests/sleep" in [item["name"] for item in heavy["items"]]
    assert all(item["avg_time_ms"] >= 500 for item in heavy["items"])
    one = await api.get("/api/health/profiling/queries?limit=1", admin)
    assert len(one["items"]) == 1


async def test_n_plus_one_is_found_per_request_with_endpoint_and_count(build, settings):
    api, _ = await build(settings.replace(n_plus_one_threshold=5))
    admin = await api.user(admin=True)
    await api.call("GET", "/test/loop?n=4", expect=200)             # under the threshold
    assert (await api.get("/api/health/profiling", admin))["n_plus_one"] == []
    await api.call("GET", "/test/loop?n=6", headers={"X-Request-ID": "nplus1-a"}, expect=200)
    await api.call("GET", "/test/loop?n=5", headers={"X-Request-ID": "nplus1-b"}, expect=200)
    report = await api.get("/api/health/profiling", admin)
    [finding] = report["n_plus_one"]
    assert finding["endpoint"] == "/test/loop" and finding["name"] == "tests/sleep"
    assert finding["count"] == 5 and finding["max_count"] == 6 and finding["occurrences"] == 2
    assert finding["last_request_id"] == "nplus1-b"
    assert finding["query"] == "SELECT pg_sleep($1::float8)"
    assert any("N+1" in r["message"] and "/test/loop" in r["message"] for r in report["recommendations"])
    assert report["summary"]["n_plus_one_findings"] == 1


async def test_the_services_own_endpoints_run_no_n_plus_one(make_api, settings):
    """Walk every resource endpoint (cache off, so every read reaches SQL): no finding."""
    api = await make_api(settings.replace(cache_enabled=False, offset_threshold=2, n_plus_one_threshold=3))
    admin = await api.user(admin=True)
    user = await api.user()
    for who in (admin, user):
        client = await api.client_of(who, platforms=["linkedin"])
        project = await api.project_of(who, client["id"], template_quantities={"a": 2})
        run = await api.post(f"/api/projects/{project['id']}/runs", who)
        posts = await api.posts_of(who, project["id"], 12, run_id=run["id"], target_platform="linkedin")
        single = await api.post("/api/posts", who, json={"project_id": project["id"], "content": "one more"})
        await api.get("/api/auth/me", who)
        for path in ("/api/clients", "/api/clients?search=cli", "/api/projects", f"/api/projects/{project['id']}",
                     f"/api/projects?client_id={client['id']}&status=draft", f"/api/runs?project_id={project['id']}",
                     f"/api/runs/{run['id']}", f"/api/clients/{client['id']}", f"/api/posts/{posts[0]['id']}",
                     f"/api/posts?project_id={project['id']}&page_size=2&page=5",
                     "/api/posts?platform=linkedin&needs_review=false&min_word_count=1&search=number&page_size=3"):
            await api.get(path, who)
        # Through the cursor pages of this project (the admin's unfiltered walk would cross
        # every post the suite's other tests left in the shared database: minutes).
        walk = f"/api/posts?project_id={project['id']}&page_size=3"
        page, pages = await api.get(walk, who), 1
        while page["metadata"]["next_cursor"]:
            page, pages = await api.get(f"{walk}&cursor={page['metadata']['next_cursor']}", who), pages + 1
        assert pages == 5                                  # 13 posts, 3 a page
        await api.patch(f"/api/posts/{single['id']}", who, json={"status": "flagged"})
        await api.patch(f"/api/runs/{run['id']}", who, json={"status": "running"})
        await api.patch(f"/api/projects/{project['id']}", who, json={"name": "Renamed"})
        await api.patch(f"/api/clients/{client['id']}", who, json={"name": "Renamed"})
        await api.delete(f"/api/posts/{single['id']}", who)
        await api.delete(f"/api/clients/{client['id']}", who)
    for path in ("/api/health/database", "/api/health/database/events", "/api/health/profiling/queries",
                 "/api/health/full", "/api/health/cache"):
        await api.get(path, admin)
    report = await api.get("/api/health/profiling", admin)
    assert report["summary"]["total_queries"] > 50            # the walk did reach the database
    assert report["n_plus_one"] == [], report["n_plus_one"]


async def test_profiling_disabled_records_nothing(build, settings):
    api, app = await build(settings.replace(profiling_enabled=False, slow_query_threshold_ms=0))
    admin = await api.user(admin=True)
    await api.call("GET", "/test/loop?n=6", expect=200)
    report = await api.get("/api/health/profiling", admin)
    assert report["summary"]["enabled"] is False and report["summary"]["total_queries"] == 0
    assert report["n_plus_one"] == [] and report["recent_slow_queries"] == []
    assert report["recommendations"][0]["message"].startswith("Profiling is off")
    assert app[keys.PROFILER].observe not in app[keys.DB].observers


async def test_reset_clears_the_profile(build, settings):
    api, _ = await build(settings.replace(slow_query_threshold_ms=0))
    admin = await api.user(admin=True)
    await api.call("GET", "/test/loop?n=6", expect=200)
    result = await api.post("/api/health/profiling/reset", admin, expect=200)
    assert result["before"]["total_queries"] >= 6 and result["before"]["n_plus_one_findings"] == 1
    assert result["after"]["total_queries"] == 0
    report = await api.get("/api/health/profiling", admin)
    assert report["n_plus_one"] == [] and report["summary"]["total_queries"] <= 2   # only this request's own


async def test_slow_log_is_a_bounded_ring(build, settings):
    api, app = await build(settings.replace(slow_query_threshold_ms=0, max_slow_queries=3))
    admin = await api.user(admin=True)
    await api.call("GET", "/test/loop?n=4", headers={"X-Request-ID": "ring"}, expect=200)
    body = await api.get("/api/health/profiling/slow-queries?limit=100", admin)
    assert len(body["items"]) == 3
    assert len(app[keys.PROFILER].slow_log) == 3
    recent = await api.get("/api/health/profiling/slow-queries?since_minutes=1&limit=2", admin)
    assert len(recent["items"]) == 2


async def test_an_estimated_total_profiles_its_explain_as_a_query_of_its_own(make_api, settings):
    """Past COUNT_EXACT_LIMIT a list asks the planner; that EXPLAIN is database time too."""
    api = await make_api(settings.replace(count_exact_limit=2, cache_enabled=False))
    admin, user = await api.user(admin=True), await api.user()
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 5)
    # page_size 2: a page 1 that ends the list would be its own exact total, with no count;
    # min_word_count: a filter the maintained tallies (migration 0110) do not hold.
    listing = await api.get(f"/api/posts?project_id={project['id']}&min_word_count=0&page_size=2", user)
    assert listing["metadata"]["total_is_estimate"] is True
    names = {q["name"]: q for q in (await api.get("/api/health/profiling/queries?limit=1000", admin))["items"]}
    assert names["explain/posts/count"]["execution_count"] >= 1
    assert names["explain/posts/count"]["query"].startswith("EXPLAIN (FORMAT JSON)")
