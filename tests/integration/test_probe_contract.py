"""Defects found by probing the resource endpoints against docs/API.md and the OpenAPI
document the service serves (one test each).

Each test reproduces what a user saw before its fix, through the HTTP API against the
real PostgreSQL, and compares the answer with what the served document says.
"""
from __future__ import annotations

import asyncio
import io

from rawhttp import answers, assert_envelope, exchange, serving_on_a_port

from service.api.routes import ROUTES

REQUEST_ID = "request_id"


async def _path_ids(api, user) -> dict[str, str]:
    """A real object of the caller for each route prefix that takes an {id}."""
    project = await api.project_of(user)
    run = await api.post(f"/api/projects/{project['id']}/runs", user, json={})
    post = await api.post("/api/posts", user, json={"project_id": project["id"], "content": "a post"})
    return {"/api/clients/": project["client_id"], "/api/projects/": project["id"], "/api/runs/": run["id"],
            "/api/posts/": post["id"]}


async def test_every_422_example_of_the_document_is_what_the_route_answers(api):
    """Every 422 example of /api/openapi.json showed one answer, `name: is required` first
    and the unknown `colour` second, on every route with a body: login, register, runs and
    exports have no `name`, and the service lists unknown names first (docs/API.md section
    9) with the message `unknown field: colour`. A client built from the document expected
    an order and a field that no route answers. Each route's example is now the answer its
    validation gives to `{"colour": "blue"}`; here each route is sent that body."""
    _, doc = await api.call("GET", "/api/openapi.json", expect=200)
    user = await api.user()
    ids = await _path_ids(api, user)
    checked = 0
    for route in ROUTES:
        answer = doc["paths"][route.path][route.method.lower()]["responses"].get("422")
        if answer is None:
            continue
        example = answer["content"]["application/json"]["example"]
        path = route.path
        for prefix, object_id in ids.items():
            if path.startswith(prefix + "{id}"):
                path = path.replace("{id}", object_id)
        resp, body = await api.call(route.method, path, user if route.auth == "user" else None,
                                    json={"colour": "blue"})
        assert resp.status == 422, (route.method, route.path, body)
        body.pop(REQUEST_ID)
        expected = dict(example)
        expected.pop(REQUEST_ID)
        assert body == expected, (route.method, route.path)
        checked += 1
    assert checked >= 12


# Keys the document may leave optional: they are in some answers of the object and not others.
_SOMETIMES = {"Project": {"post_counts"}, "Run": {"logs", "log_count"}}


async def test_every_resource_schema_requires_the_fields_every_answer_carries(api):
    """The Project schema of /api/openapi.json required no field at all (its model was a
    TypedDict with total=False, to leave post_counts optional): `{}` validated as a project,
    and a client generated from the document had every field optional, where Client, Run
    and Post required theirs. Now every field a project answer always carries is required,
    post_counts alone is not (list items lack it). Here each resource's schema is checked
    against real answers, list items and single objects alike."""
    _, doc = await api.call("GET", "/api/openapi.json", expect=200)
    schemas = doc["components"]["schemas"]
    user = await api.user()
    ids = await _path_ids(api, user)
    answers = {"User": [await api.get("/api/auth/me", user)]}
    for name, prefix in (("Client", "/api/clients/"), ("Project", "/api/projects/"), ("Run", "/api/runs/"),
                         ("Post", "/api/posts/")):
        detail = await api.get(prefix + ids[prefix], user)
        listed = await api.get(prefix.rstrip("/"), user)
        answers[name] = [detail, *listed["items"]]
    for name, objects in answers.items():
        schema = schemas[name]
        described, required = set(schema["properties"]), set(schema.get("required", []))
        assert described - required == _SOMETIMES.get(name, set()), name
        for answer in objects:
            assert set(answer) <= described, (name, set(answer) - described)
            assert required <= set(answer), (name, required - set(answer))


async def test_a_parent_or_filter_id_not_the_callers_is_404_naming_its_field(api):
    """A post naming another user's project or run answered 404 naming the field
    (`project_id`, `items[3].run_id`), but the same mistake elsewhere did not: a project
    created or moved under another user's client, and a list filtered by another user's
    client, project or run, answered 404 with no `field`, though one field is to blame
    (docs/API.md section 3: `field` when one field is to blame). Each names it now, for an
    object of another user and for a malformed id alike."""
    owner, other = await api.user(), await api.user()
    ids = await _path_ids(api, owner)
    mine = await api.project_of(other)
    foreign = {"client_id": ids["/api/clients/"], "project_id": ids["/api/projects/"], "run_id": ids["/api/runs/"]}
    for value in (foreign, dict.fromkeys(foreign, "not-an-id")):
        calls = [("POST", "/api/projects", {"json": {"client_id": value["client_id"], "name": "x"}}, "client_id"),
                 ("PATCH", f"/api/projects/{mine['id']}", {"json": {"client_id": value["client_id"]}}, "client_id"),
                 ("GET", "/api/projects", {"params": {"client_id": value["client_id"]}}, "client_id"),
                 ("GET", "/api/runs", {"params": {"project_id": value["project_id"]}}, "project_id"),
                 ("GET", "/api/posts", {"params": {"project_id": value["project_id"]}}, "project_id"),
                 ("GET", "/api/posts", {"params": {"run_id": value["run_id"]}}, "run_id"),
                 ("POST", "/api/posts", {"json": {"project_id": value["project_id"], "content": "x"}}, "project_id")]
        for method, path, kwargs, field in calls:
            resp, body = await api.call(method, path, other, **kwargs)
            assert resp.status == 404, (method, path, body)
            assert body["error"]["field"] == field, (method, path, kwargs, body)
            assert body["error"]["message"].startswith(f"{field}: "), body


async def test_error_answers_carry_the_cache_control_every_json_answer_carries(api):
    """docs/API.md section 3: JSON answers carry `Cache-Control: private, no-cache` (data is
    per user). Successful answers did; every error envelope (401, 403, 404, 400, 405, 415,
    422) had no Cache-Control at all, so a browser cache was free to keep, say, the 404 of
    an object about to be created, by its own heuristics. Each error answer now carries it."""
    user = await api.user()
    calls = [("GET", "/api/clients", {}, None, 401), ("GET", "/api/health/database", {}, user, 403),
             ("GET", "/api/clients/00000000-0000-0000-0000-000000000000", {}, user, 404),
             ("GET", "/api/no-such-route", {}, user, 404), ("GET", "/api/clients", {"params": {"x": "1"}}, user, 400),
             ("PUT", "/api/clients", {}, user, 405), ("POST", "/api/clients", {"data": "x"}, user, 415),
             ("POST", "/api/clients", {"json": {}}, user, 422),
             ("POST", "/api/auth/login", {"json": {"email": "nobody@example.com", "password": "password-123"}}, None,
              401)]
    for method, path, kwargs, caller, status in calls:
        resp, body = await api.call(method, path, caller, expect=status, **kwargs)
        assert body["error"]["status"] == status
        assert resp.headers.get("Cache-Control") == "private, no-cache", (method, path, status)


async def test_posts_that_take_no_body_do_not_document_body_errors_they_never_answer(api):
    """The five POSTs that take no body (logout, a job's cancel, the cache clear and
    reset-stats, the profiling reset) listed 408, 413 and 415 in /api/openapi.json: their
    handlers never read a body, so a 9 MiB text/plain body is ignored and the request
    answered as without one (204, 404, 200). The document lists those three codes only
    where a body is read."""
    _, doc = await api.call("GET", "/api/openapi.json", expect=200)
    admin = await api.user(admin=True)
    expected = {"/api/auth/logout": 204, "/api/jobs/{id}/cancel": 404, "/api/health/cache/clear": 200,
                "/api/health/cache/reset-stats": 200, "/api/health/profiling/reset": 200}
    bodyless = [route for route in ROUTES if route.method == "POST" and route.body is None]
    assert {route.path for route in bodyless} == set(expected)
    # Logout last: it revokes the token the others are sent with.
    for route in sorted(bodyless, key=lambda route: route.path == "/api/auth/logout"):
        path = route.path.replace("{id}", "00000000-0000-0000-0000-000000000000")
        resp, _ = await api.call("POST", path, admin, data=io.BytesIO(b"x" * (9 * 1024 * 1024)),
                                 headers={"Content-Type": "text/plain"})
        assert resp.status == expected[route.path], route.path
        documented = set(doc["paths"][route.path]["post"]["responses"])
        assert not {"408", "413", "415"} & documented, (route.path, documented)


async def test_the_connection_handlers_refusals_carry_the_same_cache_control(settings):
    """The refusals written before any route (a malformed request line: 400 bad_request;
    more connections than MAX_CONNECTIONS_PER_ADDRESS: 503 too_many_connections) are JSON
    answers too, and had no Cache-Control either."""
    async with serving_on_a_port(settings.replace(max_connections_per_address=1)) as (port, _, _):
        held = await asyncio.open_connection("127.0.0.1", port)
        try:
            await asyncio.sleep(0.2)
            [(status, headers, body)] = answers(await exchange("127.0.0.1", port, b"GET /api/health/live HTTP/1.1\r\n"
                                                                                  b"Host: x\r\n\r\n"))
            assert status == 503 and headers.get("cache-control") == "private, no-cache", (status, headers)
        finally:
            held[1].close()
        await asyncio.sleep(0.2)
        [(status, headers, body)] = answers(await exchange("127.0.0.1", port, b"GET /a b c HTTP/1.1\r\n\r\n"))
        assert_envelope(status, headers, body, 400)
        assert headers.get("cache-control") == "private, no-cache", headers
