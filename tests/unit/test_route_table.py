"""The route table (service/api/routes.py) is the router, and its columns are consistent."""
from __future__ import annotations

from collections import Counter

import pytest

from service.api.routes import ROUTES, write_tables
from service.app import create_app
from service.cache.invalidation import TABLE_NAMESPACES
from service.settings import Settings

APP = create_app(Settings(database_url="postgresql://unused/none", secret_key="k" * 32))
TABLE = {(route.method, route.path) for route in ROUTES}
# Writes that change no cached answer: a new account, a new token.
NO_CACHED_ANSWER = {("POST", "/api/auth/register"), ("POST", "/api/auth/login")}


def _routed() -> list[tuple[str, str]]:
    return [(route.method, route.resource.canonical) for route in APP.router.routes()
            if route.method != "HEAD" and route.resource is not None]


def _operational(path: str) -> bool:
    """Health, admin and metrics endpoints: they change no resource table."""
    return path == "/metrics" or path == "/api/health" or path.startswith("/api/health/")


def test_the_router_serves_exactly_the_route_table():
    routed = set(_routed())
    assert routed - TABLE == set(), "routed but not in ROUTES"
    assert TABLE - routed == set(), "in ROUTES but not routed"


def test_the_router_has_each_method_and_path_once():
    assert [key for key, n in Counter(_routed()).items() if n > 1] == []


def test_the_route_table_has_each_method_and_path_once():
    assert [key for key, n in Counter((r.method, r.path) for r in ROUTES).items() if n > 1] == []


def test_each_routed_handler_is_the_one_its_row_names():
    handlers = {(r.method, r.resource.canonical): r.handler for r in APP.router.routes() if r.method != "HEAD"}
    # A route that takes no query parameters is wrapped to refuse them (api/routes.py _without_query).
    wrong = [f"{r.method} {r.path}" for r in ROUTES
             if getattr(handlers[(r.method, r.path)], "__wrapped__", handlers[(r.method, r.path)]) is not r.handler]
    assert wrong == []


RESOURCE_WRITES = [r for r in ROUTES
                   if r.is_write and not _operational(r.path) and (r.method, r.path) not in NO_CACHED_ANSWER]


@pytest.mark.parametrize("route", RESOURCE_WRITES, ids=lambda r: f"{r.method} {r.path}")
def test_every_resource_write_declares_the_tables_it_writes(route):
    assert route.writes, f"{route.method} {route.path} declares no writes: its cached reads would go stale"


def test_the_write_rule_covers_every_resource():
    """The rule is not vacuous: it applies to the writes of every resource (logout among them)."""
    assert {r.path.split("/")[2] for r in RESOURCE_WRITES} == {"auth", "clients", "projects", "runs", "posts", "jobs"}
    assert len(RESOURCE_WRITES) >= 12


def test_the_exempt_writes_really_are_routes_and_declare_nothing():
    rows = {(r.method, r.path): r for r in ROUTES}
    for key in NO_CACHED_ANSWER:
        assert key in rows and rows[key].writes == ()


def test_reads_declare_no_writes():
    assert [f"{r.method} {r.path}" for r in ROUTES if not r.is_write and r.writes] == []


def test_write_methods_are_the_ones_outside_get():
    assert {r.method for r in ROUTES if r.is_write} <= {"POST", "PATCH", "PUT", "DELETE"}
    assert {r.method for r in ROUTES if not r.is_write} == {"GET"}


def test_every_table_a_route_writes_feeds_known_namespaces():
    unknown = {(f"{r.method} {r.path}", table) for r in ROUTES for table in r.writes if table not in TABLE_NAMESPACES}
    assert unknown == set()


def test_a_route_with_a_body_is_a_write():
    assert [f"{r.method} {r.path}" for r in ROUTES if r.body is not None and not r.is_write] == []


def test_paginated_routes_are_gets_of_a_collection():
    paginated = [r for r in ROUTES if r.paginated]
    assert paginated, "the table marks no list as paginated"
    assert [f"{r.method} {r.path}" for r in paginated if r.method != "GET"] == []
    assert [r.path for r in paginated if "{" in r.path] == []
    assert all(r.response.startswith("list of ") for r in paginated)


def test_every_auth_column_is_a_known_kind_and_admin_owns_the_health_details():
    assert {r.auth for r in ROUTES} <= {"public", "user", "admin", "metrics", "admin_or_metrics"}
    public_health = {"/api/health", "/api/health/live", "/api/health/ready"}
    # The status page and its assets hold no data (a browser cannot send a bearer token on
    # navigation); the figures come from the admin endpoints the page polls.
    status_page = {r.path for r in ROUTES if r.path.startswith("/api/health/dashboard")}
    for r in ROUTES:
        if r.path.startswith("/api/health/") and r.path not in public_health | status_page:
            assert r.auth in ("admin", "admin_or_metrics"), f"{r.method} {r.path} is {r.auth}"
            assert r.auth == "admin" or r.method == "GET", f"{r.method} {r.path}: only reads take METRICS_TOKEN"


def test_deleting_a_parent_writes_its_children():
    writes = {(r.method, r.path): set(r.writes) for r in ROUTES}
    assert writes[("DELETE", "/api/clients/{id}")] >= {"clients", "projects", "runs", "posts"}
    assert writes[("DELETE", "/api/projects/{id}")] >= {"projects", "runs", "posts"}


def test_write_tables_lists_every_write_route_and_only_those():
    table = write_tables()
    assert set(table) == {(r.method, r.path) for r in ROUTES if r.is_write}
    assert table[("POST", "/api/posts")] == ("posts",)
