"""Cache invalidation: which namespaces each table feeds, and what each write route drops."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from service import keys
from service.api.routes import ROUTES, write_tables
from service.app import create_app
from service.cache.invalidation import TABLE_NAMESPACES, WriteInvalidation, namespaces_fed_by
from service.cache.response_cache import NAMESPACES
from service.settings import Settings


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
