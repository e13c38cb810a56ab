"""Every field a body may carry as null is either stored as its documented default or
refused with 422: never a 500 from a NOT NULL column (docs/API.md section 3)."""
from __future__ import annotations

import pytest

from service.schemas import clients, posts, projects, runs


async def _targets(api, user) -> dict[str, tuple[str, str, dict]]:
    """(method, path, a valid body) for every write that takes a body."""
    client = await api.client_of(user)
    project = await api.project_of(user, client["id"])
    run = await api.post(f"/api/projects/{project['id']}/runs", user, json={})
    post = (await api.posts_of(user, project["id"], 1))[0]
    return {
        "create client": ("POST", "/api/clients", {"name": "N"}, clients.CLIENT),
        "patch client": ("PATCH", f"/api/clients/{client['id']}", {}, clients.CLIENT),
        "create project": ("POST", "/api/projects", {"client_id": client["id"], "name": "P"}, projects.PROJECT),
        "patch project": ("PATCH", f"/api/projects/{project['id']}", {}, projects.PROJECT),
        "create run": ("POST", f"/api/projects/{project['id']}/runs", {}, runs.CREATE),
        "patch run": ("PATCH", f"/api/runs/{run['id']}", {}, runs.PATCH),
        "create post": ("POST", "/api/posts", {"project_id": project["id"], "content": "a b"}, posts.POST),
        "patch post": ("PATCH", f"/api/posts/{post['id']}", {}, posts.PATCH),
    }


async def test_null_in_any_field_of_any_body_is_never_a_500(api):
    user = await api.user()
    failures = []
    for name, (method, path, base, schema) in (await _targets(api, user)).items():
        for field in schema.__annotations__:
            resp, body = await api.call(method, path, user, json={**base, field: None})
            if resp.status >= 500 or resp.status not in (200, 201, 404, 422):
                failures.append(f"{name} {field}=null: {resp.status} {body}")
            elif resp.status == 422:
                assert body["error"]["field"] == field, (name, field, body)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("field", ["word_count", "flags", "has_cta", "status"])
async def test_patching_a_post_field_to_null_keeps_the_row_valid(api, field):
    user = await api.user()
    project = await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1))[0]
    resp, body = await api.call("PATCH", f"/api/posts/{post['id']}", user, json={field: None})
    assert resp.status in (200, 422), body
    after = await api.get(f"/api/posts/{post['id']}", user)
    assert after[field] is not None
