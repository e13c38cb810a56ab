"""Every text and list field at and past its documented size (issue 15 point 1, README
Limits), read from the schemas themselves so a new field is covered too: the limit is
stored whole, one more character or item is 422 naming the field, never cut and never 500."""
from __future__ import annotations

import pytest
from schema_fields import fields

from service.schemas import clients, posts, projects, runs

# (schema, route kind) -> the body the other fields need
CASES = [("client", fields(clients.ClientBody)), ("project", fields(projects.ProjectBody)),
         ("post", fields(posts.PostBody)), ("run", fields(runs.RunCreate))]


def _fields(schema, kinds):
    return [(name, f) for name, f in schema.items() if f.kind in kinds and (f.choices is None)]


async def _create(api, user, kind: str, fields: dict):
    if kind == "client":
        return await api.call("POST", "/api/clients", user, json={"name": "Limits", **fields})
    if kind == "project":
        client = await api.client_of(user)
        return await api.call("POST", "/api/projects", user, json={"client_id": client["id"], "name": "L", **fields})
    project = await api.project_of(user)
    if kind == "post":
        return await api.call("POST", "/api/posts", user, json={"project_id": project["id"], "content": "c", **fields})
    return await api.call("POST", f"/api/projects/{project['id']}/runs", user, json=fields)


@pytest.mark.parametrize("kind, schema", CASES, ids=[c[0] for c in CASES])
async def test_text_fields_at_and_past_their_length(api, kind, schema):
    user = await api.user()
    for name, field in _fields(schema, ("text",)):
        if name in ("client_id", "project_id", "run_id"):
            continue
        resp, body = await _create(api, user, kind, {name: "é" * field.max_length})
        assert resp.status == 201 and body[name] == "é" * field.max_length, (kind, name, resp.status, body)
        resp, body = await _create(api, user, kind, {name: "é" * (field.max_length + 1)})
        assert resp.status == 422 and body["error"]["field"] == name, (kind, name, resp.status, body)


@pytest.mark.parametrize("kind, schema", CASES, ids=[c[0] for c in CASES])
async def test_list_fields_at_and_past_their_items_and_item_length(api, kind, schema):
    user = await api.user()
    for name, field in _fields(schema, ("text_list",)):
        full = [f"{i:04d}" + "x" * (field.max_length - 4) for i in range(field.max_items)]
        resp, body = await _create(api, user, kind, {name: full})
        assert resp.status == 201 and body[name] == full, (kind, name, resp.status)
        for bad in (full + ["one more"], ["x" * (field.max_length + 1)], [None], [1], "not a list"):
            resp, body = await _create(api, user, kind, {name: bad})
            assert resp.status == 422 and body["error"]["field"].startswith(name), (kind, name, resp.status, body)
