"""Posts (docs/API.md section 4): fields, bulk create, filters, ownership, PATCH, word counts."""
from __future__ import annotations

import uuid

import pytest
from checks import aware_datetime
from feedutil import settle_feed

FIELDS = {"id", "project_id", "run_id", "content", "template_id", "template_name", "variant", "word_count",
          "readability_score", "has_cta", "status", "flags", "target_platform", "created_at"}


async def _listed(api, user, **params) -> list[dict]:
    body = await api.get("/api/posts", user, params={"page_size": "100", **params})
    assert body["metadata"]["total"] == len(body["items"])
    return body["items"]


async def _ids(api, user, **params) -> set[str]:
    return {p["id"] for p in await _listed(api, user, **params)}


async def _count(db_conn, project_id: str) -> int:
    return await db_conn.fetchval("SELECT count(*) FROM posts WHERE project_id = $1::uuid", project_id)


async def test_create_one_post_with_every_field(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    run = await api.post(f"/api/projects/{project['id']}/runs", user)
    body = {"project_id": project["id"], "run_id": run["id"], "content": "Three little words",
            "template_id": "7", "template_name": "How-To", "variant": 2, "word_count": 12,
            "readability_score": 64.5, "has_cta": True, "status": "flagged", "flags": ["too_long"],
            "target_platform": "linkedin"}
    post = await api.post("/api/posts", user, json=body)
    assert FIELDS <= set(post)
    assert {k: post[k] for k in body} == body
    uuid.UUID(post["id"])
    aware_datetime(post["created_at"])
    assert isinstance(post["variant"], int) and isinstance(post["readability_score"], float)
    row = await db_conn.fetchrow("SELECT owner_id::text, word_count FROM posts WHERE id = $1::uuid", post["id"])
    assert row["owner_id"] == user.id and row["word_count"] == 12
    assert await api.get(f"/api/posts/{post['id']}", user) == post


async def test_defaults_and_computed_word_count(api):
    user = await api.user()
    project = await api.project_of(user)
    content = "  one two\tthree\nfour   five "
    post = await api.post("/api/posts", user, json={"project_id": project["id"], "content": content})
    assert post["word_count"] == len(content.split()) == 5
    assert post["status"] == "approved" and post["flags"] == [] and post["has_cta"] is False
    assert post["run_id"] is None and post["template_id"] is None and post["target_platform"] is None
    flagged = await api.post("/api/posts", user, json={"project_id": project["id"], "content": "x",
                                                       "flags": ["missing_cta"]})
    assert flagged["status"] == "flagged"


async def test_create_validates_fields(api):
    user = await api.user()
    project_id = (await api.project_of(user))["id"]
    cases = [
        ({"project_id": project_id}, "content"),
        ({"content": "x"}, "project_id"),
        ({"project_id": project_id, "content": ""}, "content"),
        ({"project_id": project_id, "content": "x", "variant": "2"}, "variant"),
        ({"project_id": project_id, "content": "x", "readability_score": 101}, "readability_score"),
        ({"project_id": project_id, "content": "x", "has_cta": "true"}, "has_cta"),
        ({"project_id": project_id, "content": "x", "status": "draft"}, "status"),
        ({"project_id": project_id, "content": "x", "target_platform": "myspace"}, "target_platform"),
        ({"project_id": project_id, "content": "x", "flags": [1]}, "flags[0]"),
        ({"project_id": project_id, "content": "x", "likes": 3}, "likes"),
        ({"project_id": project_id, "content": "nul \u0000 byte"}, "content"),
    ]
    for body, field in cases:
        error = (await api.post("/api/posts", user, json=body, expect=422))["error"]
        assert error["field"] == field, body


async def test_bulk_create_of_1000_keeps_the_order(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    items = [{"project_id": project["id"], "content": f"bulk post {i}", "variant": i % 3} for i in range(1000)]
    created = (await api.post("/api/posts", user, json={"items": items}))["items"]
    assert [p["content"] for p in created] == [i["content"] for i in items]
    assert [p["variant"] for p in created] == [i["variant"] for i in items]
    assert len({p["id"] for p in created}) == 1000
    assert await _count(db_conn, project["id"]) == 1000


async def test_bulk_create_of_1001_is_422_and_inserts_nothing(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    items = [{"project_id": project["id"], "content": f"post {i}"} for i in range(1001)]
    error = (await api.post("/api/posts", user, json={"items": items}, expect=422))["error"]
    assert error["field"] == "items"
    assert await _count(db_conn, project["id"]) == 0


async def test_one_bad_item_rejects_the_whole_batch(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    items = [{"project_id": project["id"], "content": f"post {i}"} for i in range(1000)]
    items[500]["target_platform"] = "myspace"
    error = (await api.post("/api/posts", user, json={"items": items}, expect=422))["error"]
    assert error["field"] == "items[500].target_platform" and "items[500]" in error["message"]
    items[500] = {"project_id": project["id"]}
    error = (await api.post("/api/posts", user, json={"items": items}, expect=422))["error"]
    assert error["field"] == "items[500].content"
    items[500] = "not an object"
    error = (await api.post("/api/posts", user, json={"items": items}, expect=422))["error"]
    assert error["field"] == "items[500]"
    assert (await api.post("/api/posts", user, json={"items": []}, expect=422))["error"]["field"] == "items"
    assert await _count(db_conn, project["id"]) == 0


async def test_bulk_item_naming_another_users_project_inserts_nothing(api, db_conn):
    alice, bob = await api.user(), await api.user()
    mine, theirs = await api.project_of(bob), await api.project_of(alice)
    items = [{"project_id": mine["id"], "content": "ok"}, {"project_id": theirs["id"], "content": "sneaky"}]
    error = (await api.post("/api/posts", bob, json={"items": items}, expect=404))["error"]
    assert error["field"] == "items[1].project_id"
    await api.post("/api/posts", bob, json={"project_id": theirs["id"], "content": "x"}, expect=404)
    items = [{"project_id": mine["id"], "content": "ok"}, {"project_id": "not-an-id", "content": "x"}]
    error = (await api.post("/api/posts", bob, json={"items": items}, expect=404))["error"]
    assert error["field"] == "items[1].project_id"
    items[1] = {"project_id": mine["id"], "content": "x", "run_id": "not-a-run"}
    error = (await api.post("/api/posts", bob, json={"items": items}, expect=404))["error"]
    assert error["field"] == "items[1].run_id"
    assert await _count(db_conn, mine["id"]) == 0 and await _count(db_conn, theirs["id"]) == 0


async def test_a_run_of_another_project_is_422(api, db_conn):
    user = await api.user()
    project, other = await api.project_of(user), await api.project_of(user)
    run = await api.post(f"/api/projects/{other['id']}/runs", user)
    body = {"project_id": project["id"], "content": "x", "run_id": run["id"]}
    assert (await api.post("/api/posts", user, json=body, expect=422))["error"]["field"] == "run_id"
    items = [{"project_id": project["id"], "content": "a"}, body]
    error = (await api.post("/api/posts", user, json={"items": items}, expect=422))["error"]
    assert error["field"] == "items[1].run_id"
    assert await _count(db_conn, project["id"]) == 0


async def _filter_fixture(api, user):
    project = await api.project_of(user)
    run = await api.post(f"/api/projects/{project['id']}/runs", user)
    specs = [
        dict(content="Grow your brand with a 50% discount today", template_name="How-To Guide",
             target_platform="linkedin", has_cta=True, readability_score=70.0, run_id=run["id"]),
        dict(content="short and sweet", template_name="Myth Busting", target_platform="twitter",
             has_cta=False, readability_score=40.0, flags=["too_long"]),
        dict(content="A snake_case identifier walks into a bar", template_name="how-to QUICK",
             target_platform="blog", has_cta=True, readability_score=55.5, flags=["low_readability"],
             run_id=run["id"]),
        dict(content="Five hundred 500 discount words in this one post", template_name=None,
             target_platform="facebook", has_cta=False),
        dict(content="snakeXcase has no underscore at all", template_name="Question Post",
             target_platform="linkedin", has_cta=False, readability_score=90.0),
    ]
    items = [{"project_id": project["id"], **spec} for spec in specs]
    created = (await api.post("/api/posts", user, json={"items": items}))["items"]
    return project, run, created


async def test_every_filter_matches_what_was_created(api):
    user = await api.user()
    project, run, posts = await _filter_fixture(api, user)
    other = await api.project_of(user)
    await api.posts_of(user, other["id"], 2)

    def expect(predicate) -> set[str]:
        return {p["id"] for p in posts if predicate(p)}

    scope = {"project_id": project["id"]}
    checks = [
        ({}, lambda p: True),
        ({"run_id": run["id"]}, lambda p: p["run_id"] == run["id"]),
        ({"status": "flagged"}, lambda p: p["status"] == "flagged"),
        ({"status": "approved"}, lambda p: p["status"] == "approved"),
        ({"platform": "linkedin"}, lambda p: p["target_platform"] == "linkedin"),
        ({"has_cta": "true"}, lambda p: p["has_cta"]),
        ({"has_cta": "false"}, lambda p: not p["has_cta"]),
        ({"template_name": "HOW-TO"}, lambda p: "how-to" in (p["template_name"] or "").lower()),
        ({"needs_review": "true"}, lambda p: bool(p["flags"])),
        ({"needs_review": "false"}, lambda p: not p["flags"]),
        ({"search": "DISCOUNT"}, lambda p: "discount" in p["content"].lower()),
        ({"search": "50%"}, lambda p: "50%" in p["content"]),
        ({"search": "_ca"}, lambda p: "_ca" in p["content"]),
        ({"min_word_count": "5"}, lambda p: p["word_count"] >= 5),
        ({"max_word_count": "7"}, lambda p: p["word_count"] <= 7),
        ({"min_word_count": "4", "max_word_count": "8"}, lambda p: 4 <= p["word_count"] <= 8),
        ({"min_readability": "55.5"}, lambda p: p["readability_score"] is not None and p["readability_score"] >= 55.5),
        ({"max_readability": "60"}, lambda p: p["readability_score"] is not None and p["readability_score"] <= 60),
        ({"platform": "linkedin", "has_cta": "false"}, lambda p: p["target_platform"] == "linkedin" and not p["has_cta"]),
    ]
    for params, predicate in checks:
        expected = expect(predicate)
        assert await _ids(api, user, **scope, **params) == expected, params
    # The filters with literal wildcards each match exactly one post.
    assert len(expect(lambda p: "50%" in p["content"])) == 1 and len(expect(lambda p: "_" in p["content"])) == 1
    # Without a project filter the list is every post of the user.
    assert len(await _ids(api, user)) == len(posts) + 2
    assert len(await _ids(api, user, run_id=run["id"])) == 2


async def test_list_shows_only_your_posts_and_admin_sees_all(api):
    alice, bob, admin = await api.user(), await api.user(), await api.user(admin=True)
    alices = await api.posts_of(alice, (await api.project_of(alice))["id"], 3)
    bobs = await api.posts_of(bob, (await api.project_of(bob))["id"], 2)
    assert await _ids(api, alice) == {p["id"] for p in alices}
    assert await _ids(api, bob) == {p["id"] for p in bobs}
    project_id = alices[0]["project_id"]
    assert await _ids(api, admin, project_id=project_id) == {p["id"] for p in alices}
    await api.get("/api/posts", bob, params={"project_id": project_id}, expect=404)
    run = await api.post(f"/api/projects/{project_id}/runs", alice)
    await api.get("/api/posts", bob, params={"run_id": run["id"]}, expect=404)
    await api.get("/api/posts", bob, params={"project_id": "bad-id"}, expect=404)


async def test_bad_query_parameters_are_400_naming_the_field(api):
    user = await api.user()
    cases = [
        ({"unknown": "1"}, "unknown"),
        ({"min_word_count": "ten"}, "min_word_count"),
        ({"min_word_count": "1.5"}, "min_word_count"),
        ({"min_word_count": "-1"}, "min_word_count"),
        ({"max_word_count": "99999999999999"}, "max_word_count"),
        ({"min_readability": "abc"}, "min_readability"),
        ({"max_readability": "nan"}, "max_readability"),
        ({"max_readability": "101"}, "max_readability"),
        ({"status": "draft"}, "status"),
        ({"platform": "myspace"}, "platform"),
        ({"has_cta": "yes"}, "has_cta"),
        ({"needs_review": "maybe"}, "needs_review"),
        ({"search": "nul\u0000"}, "search"),
    ]
    for params, field in cases:
        error = (await api.get("/api/posts", user, params=params, expect=400))["error"]
        assert error["field"] == field and error["code"] == "invalid_parameter", params


async def test_another_users_post_is_404(api, db_conn):
    alice, bob, admin = await api.user(), await api.user(), await api.user(admin=True)
    post = (await api.posts_of(alice, (await api.project_of(alice))["id"], 1))[0]
    path = f"/api/posts/{post['id']}"
    await api.get(path, bob, expect=404)
    await api.patch(path, bob, json={"content": "hijacked"}, expect=404)
    await api.delete(path, bob, expect=404)
    assert await db_conn.fetchval("SELECT content FROM posts WHERE id = $1::uuid", post["id"]) == post["content"]
    assert (await api.get(path, admin))["id"] == post["id"]
    assert (await api.patch(path, admin, json={"has_cta": True}))["has_cta"] is True
    await api.delete(path, admin)
    await api.get(path, alice, expect=404)


async def test_patch_changes_given_fields_and_recomputes_word_count(api):
    user = await api.user()
    project = await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1, template_name="How-To", readability_score=50))[0]
    path = f"/api/posts/{post['id']}"
    patched = await api.patch(path, user, json={"content": "now it has seven words in it", "template_name": None})
    assert patched["word_count"] == 7 and patched["template_name"] is None
    same = FIELDS - {"content", "word_count", "template_name"}
    assert {k: patched[k] for k in same} == {k: post[k] for k in same}
    assert aware_datetime(patched["updated_at"]) > aware_datetime(post["updated_at"])
    explicit = await api.patch(path, user, json={"content": "two words", "word_count": 40})
    assert explicit["word_count"] == 40
    untouched = await api.patch(path, user, json={"status": "flagged", "flags": ["repetitive_opening"]})
    assert untouched["word_count"] == 40 and untouched["status"] == "flagged"
    for body, field in (({}, None), ({"content": None}, "content"), ({"project_id": project["id"]}, "project_id"),
                        ({"status": "draft"}, "status")):
        assert (await api.patch(path, user, json=body, expect=422))["error"].get("field") == field


async def test_a_patch_with_nothing_to_check_against_the_stored_post_is_one_statement(api):
    """Its UPDATE's WHERE is the visibility check; a recount (word_count null) or a run_id
    reads the stored post first, in one transaction."""
    user, other = await api.user(), await api.user()
    project = await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1))[0]
    run = await api.post(f"/api/projects/{project['id']}/runs", user, json={})
    path = f"/api/posts/{post['id']}"
    await settle_feed(api)                     # no late token NOTIFY from the set-up empties the token cache
    await api.get("/api/auth/me", user)        # the token lookup is cached: only the patch's statements count
    await api.get("/api/auth/me", other)
    resp, patched = await api.call("PATCH", path, user, 200, json={"content": "one two three"})
    assert 'desc="1 queries"' in resp.headers["Server-Timing"] and patched["word_count"] == 3
    resp, patched = await api.call("PATCH", path, user, 200, json={"word_count": 9})
    assert 'desc="1 queries"' in resp.headers["Server-Timing"] and patched["word_count"] == 9
    resp, patched = await api.call("PATCH", path, user, 200, json={"word_count": None})
    assert 'desc="2 queries"' in resp.headers["Server-Timing"] and patched["word_count"] == 3
    resp, patched = await api.call("PATCH", path, user, 200, json={"run_id": run["id"]})
    assert 'desc="3 queries"' in resp.headers["Server-Timing"] and patched["run_id"] == run["id"]
    resp, body = await api.call("PATCH", f"/api/posts/{uuid.uuid4()}", user, 404, json={"content": "x"})
    assert 'desc="1 queries"' in resp.headers["Server-Timing"] and body["error"]["code"] == "not_found"
    resp, body = await api.call("PATCH", path, other, 404, json={"content": "hijacked"})
    assert 'desc="1 queries"' in resp.headers["Server-Timing"] and body["error"]["code"] == "not_found"
    assert (await api.get(path, user))["content"] == "one two three"


async def test_patch_run_id_must_belong_to_the_posts_project(api):
    user = await api.user()
    project, other = await api.project_of(user), await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1))[0]
    path = f"/api/posts/{post['id']}"
    own_run = await api.post(f"/api/projects/{project['id']}/runs", user)
    foreign_run = await api.post(f"/api/projects/{other['id']}/runs", user)
    assert (await api.patch(path, user, json={"run_id": own_run["id"]}))["run_id"] == own_run["id"]
    error = (await api.patch(path, user, json={"run_id": foreign_run["id"]}, expect=422))["error"]
    assert error["field"] == "run_id"
    assert (await api.patch(path, user, json={"run_id": None}))["run_id"] is None


async def test_delete_post(api, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    first, second = await api.posts_of(user, project["id"], 2)
    await api.delete(f"/api/posts/{first['id']}", user)
    await api.get(f"/api/posts/{first['id']}", user, expect=404)
    await api.delete(f"/api/posts/{first['id']}", user, expect=404)
    assert await _count(db_conn, project["id"]) == 1
    assert (await api.get(f"/api/projects/{project['id']}", user))["post_counts"]["total"] == 1
    for raw in ("x", "1", str(uuid.uuid4())):
        await api.get(f"/api/posts/{raw}", user, expect=404)


async def test_a_post_an_admin_creates_belongs_to_the_projects_owner(api, db_conn):
    alice, admin = await api.user(), await api.user(admin=True)
    project = await api.project_of(alice)
    post = await api.post("/api/posts", admin, json={"project_id": project["id"], "content": "from the admin"})
    assert await db_conn.fetchval("SELECT owner_id::text FROM posts WHERE id = $1::uuid", post["id"]) == alice.id
    assert await _ids(api, alice) == {post["id"]}


@pytest.mark.parametrize("name,raw", [("min_word_count", "1_0"), ("min_word_count", " 7"),
                                      ("max_word_count", "٣"), ("min_readability", "1e1"),
                                      ("max_readability", "inf"), ("min_readability", "nan")])
async def test_numeric_filters_take_plain_decimal_digits_only(api, name, raw):
    """int()/float() would accept these; a query string means none of them."""
    user = await api.user()
    resp, body = await api.call("GET", "/api/posts", user, params={name: raw}, expect=400)
    assert body["error"]["field"] == name


async def test_numeric_filters_accept_plain_numbers(api):
    user = await api.user()
    await api.get("/api/posts?min_word_count=3&max_word_count=-0&min_readability=2.5&max_readability=90", user)
