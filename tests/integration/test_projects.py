"""Projects (docs/API.md section 4): fields, prices, post_counts, filters, ownership, PATCH, cascades."""
from __future__ import annotations

import secrets
import uuid
from decimal import Decimal

from checks import aware_datetime

FULL = {
    "status": "qa_review",
    "template_quantities": {"How-To": 3, "Myth Busting": 2},
    "num_posts": 5,
    "price_per_post": 40.5,
    "research_price_per_post": 10,
    "total_price": 252.5,
    "platforms": ["linkedin", "twitter"],
    "tone": "friendly",
}
FIELDS = {"id", "client_id", "name", *FULL, "created_at", "updated_at"}


async def _ids(api, user, **params) -> set[str]:
    body = await api.get("/api/projects", user, params={"page_size": "100", **params})
    return {p["id"] for p in body["items"]}


async def test_create_returns_every_field_with_numeric_prices(api, db_conn):
    user = await api.user()
    client = await api.client_of(user)
    project = await api.post("/api/projects", user, json={"client_id": client["id"], "name": "Launch", **FULL})
    assert set(project) == FIELDS | {"post_counts"}
    assert project["post_counts"] == {"total": 0, "approved": 0, "flagged": 0}
    assert {k: project[k] for k in FULL} == FULL
    for price in ("price_per_post", "research_price_per_post", "total_price"):
        assert isinstance(project[price], (int, float)) and not isinstance(project[price], bool)
    assert project["client_id"] == client["id"] and isinstance(project["id"], str)
    uuid.UUID(project["id"])
    aware_datetime(project["created_at"]), aware_datetime(project["updated_at"])
    row = await db_conn.fetchrow("SELECT owner_id::text, price_per_post, total_price FROM projects WHERE id = $1::uuid",
                                 project["id"])
    assert row["owner_id"] == user.id
    assert row["price_per_post"] == Decimal("40.50") and row["total_price"] == Decimal("252.50")


async def test_create_defaults(api):
    user = await api.user()
    project = await api.project_of(user)
    assert project["status"] == "draft" and project["template_quantities"] == {} and project["platforms"] == []
    assert project["num_posts"] is None and project["price_per_post"] is None and project["tone"] is None


async def test_total_price_is_computed_when_absent(api):
    user = await api.user()
    project = await api.project_of(user, num_posts=30, price_per_post=40, research_price_per_post=2.5)
    assert project["total_price"] == 30 * (40 + 2.5)


async def test_create_validates_fields(api):
    user = await api.user()
    client_id = (await api.client_of(user))["id"]
    cases = [
        ({"name": "x"}, "client_id"),
        ({"client_id": client_id}, "name"),
        ({"client_id": 12, "name": "x"}, "client_id"),
        ({"client_id": client_id, "name": "x", "status": "archived"}, "status"),
        ({"client_id": client_id, "name": "x", "status": None}, "status"),
        ({"client_id": client_id, "name": "x", "num_posts": "5"}, "num_posts"),
        ({"client_id": client_id, "name": "x", "num_posts": 2.5}, "num_posts"),
        ({"client_id": client_id, "name": "x", "price_per_post": -1}, "price_per_post"),
        ({"client_id": client_id, "name": "x", "price_per_post": True}, "price_per_post"),
        ({"client_id": client_id, "name": "x", "template_quantities": []}, "template_quantities"),
        ({"client_id": client_id, "name": "x", "template_quantities": {"How-To": "3"}}, "template_quantities.How-To"),
        ({"client_id": client_id, "name": "x", "budget": 1}, "budget"),
    ]
    for body, field in cases:
        error = (await api.post("/api/projects", user, json=body, expect=422))["error"]
        assert error["field"] == field, body


async def test_a_total_price_too_large_to_store_is_422_not_500(api):
    user = await api.user()
    client_id = (await api.client_of(user))["id"]
    body = {"client_id": client_id, "name": "Huge", "num_posts": 1_000_000, "price_per_post": 9_999_999}
    error = (await api.post("/api/projects", user, json=body, expect=422))["error"]
    assert error["field"] == "total_price"


async def test_client_of_another_user_is_404_as_parent(api, db_conn):
    alice, bob = await api.user(), await api.user()
    client = await api.client_of(alice)
    for client_id in (client["id"], str(uuid.uuid4()), "not-an-id"):
        await api.post("/api/projects", bob, json={"client_id": client_id, "name": "x"}, expect=404)
    assert await db_conn.fetchval("SELECT count(*) FROM projects WHERE client_id = $1::uuid", client["id"]) == 0


async def test_post_counts_count_posts_by_status(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 4)
    await api.posts_of(user, project["id"], 2, flags=["too_long"])
    await api.posts_of(user, project["id"], 1, status="flagged")
    counts = (await api.get(f"/api/projects/{project['id']}", user))["post_counts"]
    expected = await db_conn.fetchrow(
        """SELECT count(*) AS total, count(*) FILTER (WHERE status = 'approved') AS approved,
                  count(*) FILTER (WHERE status = 'flagged') AS flagged
           FROM posts WHERE project_id = $1::uuid""", project["id"])
    assert counts == dict(expected) and counts["total"] == 7 and counts["flagged"] == 3


async def test_list_filters_status_client_and_search(api):
    user = await api.user()
    tag = secrets.token_hex(3)
    first, second = await api.client_of(user), await api.client_of(user)
    a = await api.project_of(user, first["id"], name=f"Spring Launch {tag}", status="ready")
    b = await api.project_of(user, first["id"], name=f"Autumn {tag}", status="draft")
    c = await api.project_of(user, second["id"], name=f"SPRING promo {tag}", status="ready")
    assert await _ids(api, user) == {a["id"], b["id"], c["id"]}
    assert await _ids(api, user, status="ready") == {a["id"], c["id"]}
    assert await _ids(api, user, client_id=first["id"]) == {a["id"], b["id"]}
    assert await _ids(api, user, search="spring") == {a["id"], c["id"]}
    assert await _ids(api, user, search="spring", client_id=second["id"]) == {c["id"]}
    assert await _ids(api, user, status="delivered") == set()
    listed = (await api.get("/api/projects", user, params={"client_id": second["id"]}))["items"][0]
    assert "post_counts" not in listed and set(listed) == FIELDS


async def test_list_search_wildcards_are_literal(api):
    user = await api.user()
    a = await api.project_of(user, name="Promo 50% off")
    await api.project_of(user, name="Promo 500 off")
    b = await api.project_of(user, name="q_1")
    await api.project_of(user, name="qx1")
    assert await _ids(api, user, search="50%") == {a["id"]}
    assert await _ids(api, user, search="q_1") == {b["id"]}


async def test_list_filter_errors(api):
    alice, bob = await api.user(), await api.user()
    client = await api.client_of(alice)
    await api.get("/api/projects", bob, params={"client_id": client["id"]}, expect=404)
    await api.get("/api/projects", bob, params={"client_id": "nope"}, expect=404)
    for params, field in (({"status": "archived"}, "status"), ({"colour": "red"}, "colour"),
                          ({"status": "ready", "color": "x"}, "color")):
        error = (await api.get("/api/projects", alice, params=params, expect=400))["error"]
        assert error["field"] == field and error["code"] == "invalid_parameter"
    # A repeated filter is ambiguous: refused, not silently narrowed to one value.
    repeated = [("status", "ready"), ("status", "draft")]
    assert (await api.get("/api/projects", alice, params=repeated, expect=400))["error"]["field"] == "status"


async def test_ownership_of_projects(api):
    alice, bob, admin = await api.user(), await api.user(), await api.user(admin=True)
    project = await api.project_of(alice)
    path = f"/api/projects/{project['id']}"
    await api.get(path, bob, expect=404)
    await api.patch(path, bob, json={"name": "mine now"}, expect=404)
    await api.delete(path, bob, expect=404)
    assert project["id"] not in await _ids(api, bob)
    assert (await api.get(path, admin))["name"] == "Launch"
    assert project["id"] in await _ids(api, admin, client_id=project["client_id"])
    assert (await api.patch(path, admin, json={"status": "delivered"}))["status"] == "delivered"
    await api.delete(path, admin)
    await api.get(path, alice, expect=404)


async def test_patch_changes_only_given_fields(api):
    user = await api.user()
    project = await api.project_of(user, **FULL)
    patched = await api.patch(f"/api/projects/{project['id']}", user,
                              json={"name": "Relaunch", "tone": None, "price_per_post": 12.25})
    assert patched["name"] == "Relaunch" and patched["tone"] is None and patched["price_per_post"] == 12.25
    same = FIELDS - {"name", "tone", "price_per_post", "updated_at"}
    assert {k: patched[k] for k in same} == {k: project[k] for k in same}
    assert aware_datetime(patched["updated_at"]) > aware_datetime(project["updated_at"])
    assert patched["post_counts"] == {"total": 0, "approved": 0, "flagged": 0}
    path = f"/api/projects/{project['id']}"
    assert (await api.patch(path, user, json={}, expect=422))["error"]["code"] == "validation_error"
    assert (await api.patch(path, user, json={"name": None}, expect=422))["error"]["field"] == "name"
    assert (await api.patch(path, user, json={"status": "lost"}, expect=422))["error"]["field"] == "status"


async def test_patch_moves_a_project_to_another_client_of_the_same_owner_only(api, db_conn):
    alice, bob, admin = await api.user(), await api.user(), await api.user(admin=True)
    project = await api.project_of(alice)
    other = await api.client_of(alice)
    moved = await api.patch(f"/api/projects/{project['id']}", alice, json={"client_id": other["id"]})
    assert moved["client_id"] == other["id"]
    bobs = await api.client_of(bob)
    await api.patch(f"/api/projects/{project['id']}", alice, json={"client_id": bobs["id"]}, expect=404)
    # An admin sees both, but a project cannot hang under another owner's client.
    error = (await api.patch(f"/api/projects/{project['id']}", admin, json={"client_id": bobs["id"]},
                             expect=422))["error"]
    assert error["field"] == "client_id"
    assert await db_conn.fetchval("SELECT client_id::text FROM projects WHERE id = $1::uuid", project["id"]) == other["id"]


async def test_delete_cascades_to_runs_and_posts(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    run = await api.post(f"/api/projects/{project['id']}/runs", user)
    posts = await api.posts_of(user, project["id"], 5, run_id=run["id"])
    await api.delete(f"/api/projects/{project['id']}", user)
    await api.get(f"/api/projects/{project['id']}", user, expect=404)
    await api.get(f"/api/runs/{run['id']}", user, expect=404)
    await api.get(f"/api/posts/{posts[0]['id']}", user, expect=404)
    left = await db_conn.fetchval(
        "SELECT (SELECT count(*) FROM runs WHERE project_id = $1::uuid)"
        " + (SELECT count(*) FROM posts WHERE project_id = $1::uuid)", project["id"])
    assert left == 0
    assert await db_conn.fetchval("SELECT count(*) FROM clients WHERE id = $1::uuid", project["client_id"]) == 1


async def test_malformed_project_ids_are_404(api):
    user = await api.user()
    for raw in ("x", "12345", str(uuid.uuid4())):
        await api.get(f"/api/projects/{raw}", user, expect=404)
        await api.patch(f"/api/projects/{raw}", user, json={"name": "n"}, expect=404)
        await api.delete(f"/api/projects/{raw}", user, expect=404)


async def test_a_project_or_run_an_admin_creates_belongs_to_the_clients_owner(api, db_conn):
    alice, admin = await api.user(), await api.user(admin=True)
    client = await api.client_of(alice)
    project = await api.project_of(admin, client["id"])
    run = await api.post(f"/api/projects/{project['id']}/runs", admin)
    owners = await db_conn.fetchrow(
        "SELECT (SELECT owner_id::text FROM projects WHERE id = $1::uuid) AS project,"
        " (SELECT owner_id::text FROM runs WHERE id = $2::uuid) AS run", project["id"], run["id"])
    assert dict(owners) == {"project": alice.id, "run": alice.id}
    assert await _ids(api, alice) == {project["id"]}
    assert (await api.get(f"/api/runs/{run['id']}", alice))["project_id"] == project["id"]


async def test_template_keys_longer_than_200_characters_are_refused_not_cut(api):
    user = await api.user()
    client = await api.client_of(user)
    long_a, long_b = "T" * 200 + "a", "T" * 200 + "b"           # cut to 200 they would merge
    error = (await api.post("/api/projects", user, json={"client_id": client["id"], "name": "P",
                                                         "template_quantities": {long_a: 1, long_b: 2}},
                            expect=422))["error"]
    assert error["field"] == "template_quantities" and "200 characters" in error["message"]
    kept = await api.post("/api/projects", user, json={"client_id": client["id"], "name": "P",
                                                       "template_quantities": {"T" * 200: 3}})
    assert kept["template_quantities"] == {"T" * 200: 3}
