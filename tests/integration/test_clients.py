"""Clients (docs/API.md section 4): fields, search, ownership, PATCH semantics, cascading DELETE."""
from __future__ import annotations

import secrets
import uuid

from checks import aware_datetime

FULL = {
    "email": "owner@acme.example",
    "business_description": "We sell rockets.",
    "ideal_customer": "Coyotes",
    "main_problem_solved": "Catching roadrunners",
    "tone_preference": "dry",
    "platforms": ["linkedin", "blog"],
    "customer_pain_points": ["speed", "cost"],
    "customer_questions": ["does it fly?"],
}
FIELDS = {"id", "name", *FULL, "created_at", "updated_at"}


def _tag() -> str:
    return secrets.token_hex(4)


async def _names(api, user, **params) -> list[str]:
    body = await api.get("/api/clients", user, params={"page_size": "100", **params})
    return [c["name"] for c in body["items"]]


async def test_create_returns_every_field(api, db_conn):
    user = await api.user()
    client = await api.post("/api/clients", user, json={"name": "Acme", **FULL})
    assert set(client) == FIELDS
    assert client["name"] == "Acme" and {k: client[k] for k in FULL} == FULL
    uuid.UUID(client["id"])
    assert isinstance(client["id"], str)
    assert aware_datetime(client["created_at"]) == aware_datetime(client["updated_at"])
    owner = await db_conn.fetchval("SELECT owner_id::text FROM clients WHERE id = $1::uuid", client["id"])
    assert owner == user.id
    assert await api.get(f"/api/clients/{client['id']}", user) == client


async def test_create_with_only_a_name_fills_empty_lists_and_nulls(api):
    user = await api.user()
    client = await api.client_of(user)
    assert client["platforms"] == client["customer_pain_points"] == client["customer_questions"] == []
    assert client["email"] is None and client["tone_preference"] is None


async def test_create_validates_fields(api):
    user = await api.user()
    cases = [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": None}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "A", "email": "nope"}, "email"),
        ({"name": "A", "platforms": "linkedin"}, "platforms"),
        ({"name": "A", "platforms": ["linkedin", 3]}, "platforms[1]"),
        ({"name": "A", "nickname": "a"}, "nickname"),
    ]
    for body, field in cases:
        error = (await api.post("/api/clients", user, json=body, expect=422))["error"]
        assert error["field"] == field and error["code"] == "validation_error", body


async def test_list_shows_only_the_callers_clients(api):
    alice, bob = await api.user(), await api.user()
    mine = [await api.client_of(alice, name=f"A{i}") for i in range(3)]
    await api.client_of(bob, name="B0")
    body = await api.get("/api/clients", alice)
    assert sorted(c["id"] for c in body["items"]) == sorted(c["id"] for c in mine)
    assert body["metadata"]["total"] == 3


async def test_search_is_a_case_insensitive_part_of_the_name(api):
    user = await api.user()
    tag = _tag()
    for name in (f"Rocket {tag} Works", f"ROCKETS {tag}", f"Bakery {tag}"):
        await api.client_of(user, name=name)
    assert sorted(await _names(api, user, search="rocket")) == sorted([f"Rocket {tag} Works", f"ROCKETS {tag}"])
    assert await _names(api, user, search="BAKERY") == [f"Bakery {tag}"]
    assert await _names(api, user, search="nothing-like-this") == []


async def test_search_wildcards_are_literal(api):
    user = await api.user()
    for name in ("Sale 50% off", "Sale 500 off", "snake_case", "snakeXcase", "back\\slash", "backslash"):
        await api.client_of(user, name=name)
    assert await _names(api, user, search="50%") == ["Sale 50% off"]
    assert await _names(api, user, search="e_c") == ["snake_case"]
    assert await _names(api, user, search="e_ca") == ["snake_case"]
    assert await _names(api, user, search="% o") == ["Sale 50% off"]
    assert await _names(api, user, search="k\\s") == ["back\\slash"]


async def test_a_search_too_short_for_the_index_is_400(api):
    """Shorter than three characters a trigram index cannot serve it: refused, not scanned."""
    user = await api.user()
    for short in ("a", "_", "%", "ab", "  x  "):
        error = (await api.get("/api/clients", user, params={"search": short}, expect=400))["error"]
        assert error["field"] == "search" and "at least 3 characters" in error["message"]


async def test_another_users_client_is_404_everywhere(api, db_conn):
    alice, bob = await api.user(), await api.user()
    client = await api.client_of(alice)
    path = f"/api/clients/{client['id']}"
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"name": "stolen"}}), ("DELETE", {})):
        _, body = await api.call(method, path, bob, expect=404, **kwargs)
        assert body["error"]["code"] == "not_found" and "Acme" not in str(body)
    assert await db_conn.fetchval("SELECT name FROM clients WHERE id = $1::uuid", client["id"]) == "Acme"


async def test_admin_sees_lists_and_changes_every_client(api, db_conn):
    alice, admin = await api.user(), await api.user(admin=True)
    name = f"Owned by alice {_tag()}"
    client = await api.client_of(alice, name=name)
    assert (await api.get(f"/api/clients/{client['id']}", admin))["name"] == name
    assert await _names(api, admin, search=name) == [name]
    patched = await api.patch(f"/api/clients/{client['id']}", admin, json={"tone_preference": "warm"})
    assert patched["tone_preference"] == "warm"
    # The client stays alice's.
    assert await db_conn.fetchval("SELECT owner_id::text FROM clients WHERE id = $1::uuid", client["id"]) == alice.id
    await api.delete(f"/api/clients/{client['id']}", admin)
    await api.get(f"/api/clients/{client['id']}", alice, expect=404)


async def test_patch_changes_only_the_given_fields_and_bumps_updated_at(api):
    user = await api.user()
    client = await api.client_of(user, **FULL)
    patched = await api.patch(f"/api/clients/{client['id']}", user,
                              json={"name": "Renamed", "email": None, "platforms": []})
    assert patched["name"] == "Renamed" and patched["email"] is None and patched["platforms"] == []
    unchanged = {k for k in FIELDS if k not in ("name", "email", "platforms", "updated_at")}
    assert {k: patched[k] for k in unchanged} == {k: client[k] for k in unchanged}
    assert aware_datetime(patched["updated_at"]) > aware_datetime(client["updated_at"])
    assert await api.get(f"/api/clients/{client['id']}", user) == patched


async def test_patch_rejects_an_empty_body_null_name_and_unknown_fields(api):
    user = await api.user()
    client = await api.client_of(user)
    path = f"/api/clients/{client['id']}"
    assert (await api.patch(path, user, json={}, expect=422))["error"]["code"] == "validation_error"
    assert (await api.patch(path, user, json={"name": None}, expect=422))["error"]["field"] == "name"
    assert (await api.patch(path, user, json={"owner_id": user.id}, expect=422))["error"]["field"] == "owner_id"
    assert (await api.get(path, user)) == client


async def test_unknown_and_malformed_ids_are_404(api):
    user = await api.user()
    for raw in (str(uuid.uuid4()), "not-a-uuid", "123", "%27%20OR%201%3D1"):
        await api.get(f"/api/clients/{raw}", user, expect=404)
        await api.patch(f"/api/clients/{raw}", user, json={"name": "x"}, expect=404)
        await api.delete(f"/api/clients/{raw}", user, expect=404)


async def test_delete_cascades_to_projects_runs_and_posts(api, db_conn):
    user = await api.user()
    client = await api.client_of(user)
    project = await api.project_of(user, client["id"])
    run = await api.post(f"/api/projects/{project['id']}/runs", user)
    await api.posts_of(user, project["id"], 3, run_id=run["id"])
    keep = await api.project_of(user)  # another client's project survives
    await api.delete(f"/api/clients/{client['id']}", user)
    await api.get(f"/api/clients/{client['id']}", user, expect=404)
    counts = await db_conn.fetchrow(
        """SELECT (SELECT count(*) FROM clients WHERE id = $1::uuid) AS clients,
                  (SELECT count(*) FROM projects WHERE client_id = $1::uuid) AS projects,
                  (SELECT count(*) FROM runs WHERE project_id = $2::uuid) AS runs,
                  (SELECT count(*) FROM posts WHERE project_id = $2::uuid) AS posts""",
        client["id"], project["id"])
    assert dict(counts) == {"clients": 0, "projects": 0, "runs": 0, "posts": 0}
    await api.get(f"/api/projects/{keep['id']}", user)
