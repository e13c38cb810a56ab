"""Every number a body or a filter takes, at and past its column's range (issue 15 point 3),
field by field rather than by sampling: the documented bound itself is stored, one step
past it is 422 (400 for a query parameter) naming the field, and the far values (2^31,
2^63, 10^30, +-1e308, fractions for integers) are refused the same way. Never a 500, and
what was stored reads back."""
from __future__ import annotations

import pytest
from schema_fields import fields

from service.schemas import posts as post_schema
from service.schemas import projects as project_schema

FAR = [2**31, -(2**31) - 1, 2**53 + 1, 2**63, -(2**63), 10**30, 1e308, -1e308]


def _past(field) -> list:
    """Values just outside the field's documented range, and the far ones."""
    step = 1 if field.kind == "int" else 0.01
    values = [field.maximum + step, field.minimum - step,
              *(v for v in FAR if not field.minimum <= v <= field.maximum)]
    if field.kind == "int":
        values += [1.5, field.maximum + 0.5]
    return values


NUMERIC_POST = {name: f for name, f in fields(post_schema.PostBody).items() if f.kind in ("int", "number")}
NUMERIC_PROJECT = {name: f for name, f in fields(project_schema.ProjectBody).items() if f.kind in ("int", "number")}


@pytest.mark.parametrize("name", sorted(NUMERIC_POST))
async def test_post_numbers_at_and_past_their_range(api, name):
    field = NUMERIC_POST[name]
    user = await api.user()
    project = await api.project_of(user)
    base = {"project_id": project["id"], "content": "numbers at the edge"}
    for bound in (field.minimum, field.maximum):
        created = await api.post("/api/posts", user, json={**base, name: bound})
        assert created[name] == bound
        assert (await api.get(f"/api/posts/{created['id']}", user))[name] == bound
        patched = await api.patch(f"/api/posts/{created['id']}", user, json={name: bound})
        assert patched[name] == bound
    post_id = created["id"]
    for value in _past(field):
        for method, path, body in (("POST", "/api/posts", {**base, name: value}),
                                   ("POST", "/api/posts", {"items": [{**base, name: value}]}),
                                   ("PATCH", f"/api/posts/{post_id}", {name: value})):
            resp, data = await api.call(method, path, user, json=body)
            assert resp.status == 422, (method, name, value, resp.status, data)
            assert data["error"]["field"].endswith(name), (name, value, data)


@pytest.mark.parametrize("name", sorted(NUMERIC_PROJECT))
async def test_project_numbers_at_and_past_their_range(api, name):
    field = NUMERIC_PROJECT[name]
    user = await api.user()
    client = await api.client_of(user)
    base = {"client_id": client["id"], "name": "Edges"}
    for bound in (field.minimum, field.maximum):
        resp, created = await api.call("POST", "/api/projects", user, json={**base, name: bound})
        assert resp.status == 201, (name, bound, created)
        assert float(created[name]) == bound
        resp, patched = await api.call("PATCH", f"/api/projects/{created['id']}", user, json={name: bound})
        assert resp.status == 200 and float(patched[name]) == bound
    for value in _past(field):
        for method, path in (("POST", "/api/projects"), ("PATCH", f"/api/projects/{created['id']}")):
            resp, data = await api.call(method, path, user, json={**base, name: value} if method == "POST"
                                        else {name: value})
            assert resp.status == 422 and data["error"]["field"] == name, (method, name, value, resp.status, data)


async def test_a_computed_total_past_its_column_is_422_not_500(api):
    """Each factor at its bound, their product past numeric(12,2): refused by the database,
    answered 422 invalid_value."""
    user = await api.user()
    client = await api.client_of(user)
    top = project_schema.PRICE_MAX
    resp, data = await api.call("POST", "/api/projects", user, json={
        "client_id": client["id"], "name": "Too big", "num_posts": 1_000_000, "price_per_post": top,
        "research_price_per_post": top})
    assert resp.status == 422, data


async def test_template_quantities_values_at_and_past_their_range(api):
    user = await api.user()
    client = await api.client_of(user)
    base = {"client_id": client["id"], "name": "Quantities"}
    created = await api.post("/api/projects", user, json={**base, "template_quantities": {"a": 0, "b": 1_000_000}})
    assert created["template_quantities"] == {"a": 0, "b": 1_000_000}
    for value in [1_000_001, -1, 1.5, *FAR, "1", None, True]:
        resp, data = await api.call("POST", "/api/projects", user, json={**base, "template_quantities": {"a": value}})
        assert resp.status == 422 and data["error"]["field"].startswith("template_quantities"), (value, data)


async def test_numeric_filters_at_and_past_their_range(api):
    user = await api.user()
    for name, field in fields(post_schema.PostFilters).items():
        if field.kind not in ("int", "number"):
            continue
        for bound in (field.minimum, field.maximum):
            await api.get(f"/api/posts?{name}={bound}", user)
        for value in _past(field):
            resp, data = await api.call("GET", f"/api/posts?{name}={value}", user)
            assert resp.status == 400 and data["error"]["field"] == name, (name, value, data)
    for name, bad in (("page", 2**63), ("page_size", 2**31), ("page", -1), ("page_size", 0)):
        resp, data = await api.call("GET", f"/api/posts?{name}={bad}", user)
        assert resp.status == 400 and data["error"]["field"] == name, (name, bad, data)


async def test_numbers_inside_run_logs_are_stored_and_read_back(api):
    """Free-form JSON: any finite JSON number is kept (jsonb is exact); beyond double range
    the body is not JSON we accept (400), never a 500 on write or on any later read."""
    user = await api.user()
    project = await api.project_of(user)
    logs = [{"n": n} for n in (2**63 - 1, -(2**63), 1e308, -1e308, 5e-324, 0.1)]
    run = await api.post(f"/api/projects/{project['id']}/runs", user, json={"logs": logs})
    assert (await api.get(f"/api/runs/{run['id']}", user))["logs"] == logs
    await api.get(f"/api/runs?project_id={project['id']}", user)
    for raw in (b'{"logs": [1e400]}', b'{"logs": [-1e400]}', b'{"logs": [' + b"9" * 400 + b"]}"):
        resp, data = await api.call("POST", f"/api/projects/{project['id']}/runs", user, data=raw,
                                    headers={"Content-Type": "application/json"})
        assert resp.status == 400 and data["error"]["code"], (raw[:30], data)
