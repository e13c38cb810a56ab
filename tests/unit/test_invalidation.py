"""Cache invalidation: which namespaces each table feeds, and what each write route drops."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from service import keys
from service.api.routes import ROUTES, write_tables
from service.app import create_app
from service.cache.invalidation import (
    DETAILS_ONLY,
    NEW_ROWS,
    OWNER_ROWS,
    PATH_ROW,
    TABLE_NAMESPACES,
    WriteInvalidation,
    changed_rows,
    namespaces_fed_by,
    parse_notification,
)
from service.cache.response_cache import EVERY_DETAIL, NAMESPACES
from service.settings import Settings

SQL = Path(__file__).resolve().parents[2] / "sql"


def test_each_table_feeds_its_own_namespace():
    for table in ("clients", "projects", "runs", "posts", "users"):
        assert table in namespaces_fed_by([table])


def test_posts_feed_posts_and_the_project_detail_post_counts():
    assert namespaces_fed_by(["posts"]) == ("posts", "projects")


def test_tokens_feed_the_token_lookups_of_users():
    assert namespaces_fed_by(["access_tokens"]) == ("users",)


@pytest.mark.parametrize("tables", [["audit_log"], ["clients", "audit_log"], [""]])
def test_an_unknown_table_feeds_every_namespace(tables):
    assert set(namespaces_fed_by(tables)) == set(NAMESPACES)
    assert len(namespaces_fed_by(tables)) == len(NAMESPACES)


def test_no_tables_feed_nothing():
    assert namespaces_fed_by([]) == ()


@pytest.mark.parametrize("tables", [["posts", "projects"], ["projects", "posts", "posts"],
                                    ["clients", "projects", "runs", "posts"], ["users", "access_tokens"]])
def test_namespaces_are_listed_once_in_first_seen_order(tables):
    found = namespaces_fed_by(tables)
    assert len(found) == len(set(found))
    expected: list[str] = []
    for table in tables:
        expected += [ns for ns in TABLE_NAMESPACES[table] if ns not in expected]
    assert found == tuple(expected)


def test_every_namespace_fed_is_a_cache_namespace():
    assert {ns for namespaces in TABLE_NAMESPACES.values() for ns in namespaces} <= set(NAMESPACES)


def test_every_cache_namespace_is_fed_by_some_table():
    """A namespace no table feeds would never be invalidated by a write."""
    assert set(NAMESPACES) <= {ns for namespaces in TABLE_NAMESPACES.values() for ns in namespaces}


def test_write_invalidation_maps_each_write_route_to_the_namespaces_its_tables_feed():
    hook = WriteInvalidation(write_tables())
    writes = [r for r in ROUTES if r.is_write]
    assert set(hook.namespaces) == {(r.method, r.path) for r in writes}
    for route in writes:
        assert hook.namespaces[(route.method, route.path)] == namespaces_fed_by(route.writes)


@pytest.mark.parametrize("method, path, namespaces", [
    ("POST", "/api/posts", {"posts", "projects"}),
    ("PATCH", "/api/posts/{id}", {"posts", "projects"}),
    ("DELETE", "/api/posts/{id}", {"posts", "projects"}),
    ("PATCH", "/api/runs/{id}", {"runs"}),
    ("POST", "/api/projects/{id}/runs", {"runs"}),
    ("PATCH", "/api/clients/{id}", {"clients"}),
    ("DELETE", "/api/clients/{id}", {"clients", "projects", "runs", "posts"}),
    ("DELETE", "/api/projects/{id}", {"projects", "runs", "posts"}),
    ("POST", "/api/auth/logout", {"users"}),
    ("POST", "/api/auth/register", set()),
    ("POST", "/api/auth/login", set()),
])
def test_write_invalidation_of_known_routes(method, path, namespaces):
    assert set(WriteInvalidation(write_tables()).namespaces[(method, path)]) == namespaces


# The hook itself, on the real router and a real ResponseCache (no database).

@pytest.fixture
def app():
    return create_app(Settings(database_url="postgresql://unused/none", secret_key="k" * 32))


async def _warm(cache) -> None:
    for namespace in NAMESPACES:
        await cache.get_or_load("short", namespace, "k", _value(namespace))


def _value(namespace: str):
    async def load():
        return f"cached {namespace}"
    return load


async def _still_cached(cache) -> set[str]:
    kept = set()
    for namespace in NAMESPACES:
        loads = cache.loads
        await cache.get_or_load("short", namespace, "k", _value(namespace))
        if cache.loads == loads:
            kept.add(namespace)
    return kept


async def _run_hook(app, method: str, path: str) -> None:
    request = make_mocked_request(method, path, app=app)
    match_info = await app.router.resolve(request)       # what aiohttp does before the handler
    match_info.add_app(app)
    request._match_info = match_info
    (hook,) = app[keys.AFTER_WRITE]
    await hook(request)


@pytest.mark.parametrize("method, path, dropped", [
    ("PATCH", "/api/posts/0b8d5a4e-0000-4000-8000-000000000000", {"posts", "projects"}),
    ("POST", "/api/projects/0b8d5a4e-0000-4000-8000-000000000000/runs", {"runs"}),
    ("POST", "/api/auth/logout", {"users"}),
    ("POST", "/api/auth/login", set()),
])
async def test_the_after_write_hook_drops_exactly_what_the_route_writes(app, method, path, dropped):
    cache = app[keys.CACHE]
    await _warm(cache)
    assert await _still_cached(cache) == set(NAMESPACES)
    await _run_hook(app, method, path)
    assert await _still_cached(cache) == set(NAMESPACES) - dropped


async def test_a_write_route_missing_from_the_map_drops_everything(app):
    """A forgotten entry costs hit rate, never correctness."""
    hook = app[keys.AFTER_WRITE][0]
    del hook.namespaces[("PATCH", "/api/runs/{id}")]
    cache = app[keys.CACHE]
    await _warm(cache)
    await _run_hook(app, "PATCH", "/api/runs/0b8d5a4e-0000-4000-8000-000000000000")
    assert await _still_cached(cache) == set()


# Row scope: which rows a write changed --------------------------------------------

OWNER = "5f0c3c52-8a3c-4d49-9d0b-3f1de0c6a001"
POST_A = "0b8d5a4e-0000-4000-8000-00000000000a"
POST_B = "0b8d5a4e-0000-4000-8000-00000000000b"


@pytest.mark.parametrize("payload, namespaces, owner, rows", [
    ("posts", ("posts", "projects"), None, {}),
    (f"posts:{OWNER}", ("posts", "projects"), OWNER, {"projects": EVERY_DETAIL}),
    (f"posts:{OWNER}:+", ("posts", "projects"), OWNER, {"posts": frozenset(), "projects": EVERY_DETAIL}),
    (f"posts:{OWNER}:{POST_A}", ("posts", "projects"), OWNER,
     {"posts": frozenset({POST_A}), "projects": EVERY_DETAIL}),
    (f"runs:{OWNER}:{POST_A},{POST_B}", ("runs",), OWNER, {"runs": frozenset({POST_A, POST_B})}),
    ("access_tokens", ("users",), None, {}),
])
def test_notification_payloads_carry_table_owner_and_rows(payload, namespaces, owner, rows):
    assert parse_notification(payload) == (namespaces, owner, rows)


def test_path_row_routes_name_a_row_of_the_table_they_write_first():
    """PATH_ROW says the {id} in the path is the one row changed: it must be a row of
    writes[0] (POST /api/projects/{id}/runs names the project, and creates a run)."""
    for route in ROUTES:
        if route.rows == PATH_ROW:
            assert route.path == f"/api/{route.writes[0]}/{{id}}", route
            assert route.method in ("PATCH", "DELETE"), route
        if route.rows == NEW_ROWS:
            assert route.method == "POST", route


@pytest.mark.parametrize("rows, path_id, changed", [
    (PATH_ROW, POST_A.upper(), {"posts": frozenset({POST_A})}),      # the canonical form, as cached
    (PATH_ROW, "not-a-uuid", {}),
    (NEW_ROWS, None, {"posts": frozenset()}),
    (OWNER_ROWS, POST_A, {}),
])
def test_changed_rows_of_a_route(rows, path_id, changed):
    # whatever the posts changed, the projects only in their details (post counts)
    assert changed_rows(("posts",), rows, path_id) == {**changed, "projects": EVERY_DETAIL}


def test_posts_feed_the_project_details_alone():
    """What DETAILS_ONLY claims: no query of the projects list (nor the visible_projects()
    they share) reads posts or their tallies, while the detail does (post_counts)."""
    assert DETAILS_ONLY == {"posts": frozenset({"projects"})}
    reads_posts = re.compile(r"\bposts\b|post_tallies")
    projects = SQL / "projects"
    listing = [*projects.glob("list_*.sql"), *projects.glob("boundary_*.sql"), projects / "count.sql"]
    assert len(listing) == 7
    for path in listing:
        assert not reads_posts.search(path.read_text()), path.name
        assert "visible_projects(" in path.read_text(), path.name
    defining = [m.name for m in sorted((SQL / "migrations").glob("*.sql")) if "visible_projects" in m.read_text()]
    assert defining == ["0011_list_filter_functions.sql"]       # defined once, never redefined
    functions = (SQL / "migrations" / defining[0]).read_text()
    visible = re.search(r"CREATE FUNCTION visible_projects\(.*?\$\$;", functions, re.S).group(0)
    assert not reads_posts.search(visible)
    assert reads_posts.search((projects / "get.sql").read_text())


@pytest.mark.parametrize("tables, rows, path_id, changed", [
    # a table feeding the projects whole (projects itself) outweighs the posts' detail-only feed
    (("clients", "projects", "runs", "posts"), OWNER_ROWS, None, {}),
    # ... and the first table's own rows narrow its namespace as before
    (("projects", "runs", "posts"), PATH_ROW, POST_A, {"projects": frozenset({POST_A})}),
    # no table feeding the projects whole: their details alone
    (("runs", "posts"), NEW_ROWS, None, {"runs": frozenset(), "projects": EVERY_DETAIL}),
])
def test_changed_rows_of_a_route_writing_several_tables(tables, rows, path_id, changed):
    assert changed_rows(tables, rows, path_id) == changed


def test_a_table_feeding_no_namespace_of_its_own_changes_no_rows():
    assert changed_rows(("jobs",), NEW_ROWS, None) == {}
    assert changed_rows((), PATH_ROW, POST_A) == {}
