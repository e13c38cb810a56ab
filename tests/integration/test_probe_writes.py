"""Defects found by probing the write paths of clients, projects, runs and posts (one test each).

Each test reproduces what a user saw before its fix, through the HTTP API against the
real PostgreSQL.
"""
from __future__ import annotations

import asyncio

from checks import eventually

from service.api.openapi import document


async def _waiting_on_a_lock(conn, query_start: str) -> bool:
    """Is a statement whose text starts with `query_start` waiting for a lock? (The
    activity view is read once per transaction: a fresh snapshot each time.)"""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return bool(await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database() AND starts_with(query, $1)", query_start))


async def test_a_patch_of_a_project_deleted_meanwhile_is_404(api, db_conn):
    """A PATCH that found the project and then lost it to a DELETE committed before its
    UPDATE ran (the UPDATE changed no row) answered 500: the handler read the project back,
    found nothing, and failed turning None into an answer. It is 404, as for any project
    the caller does not have, and nothing is written."""
    user = await api.user()
    project = await api.project_of(user)
    async with db_conn.transaction():
        # Hold the row so that the PATCH's UPDATE waits behind this transaction's DELETE.
        await db_conn.execute("SELECT 1 FROM projects WHERE id = $1::uuid FOR UPDATE", project["id"])
        patch = asyncio.create_task(api.call("PATCH", f"/api/projects/{project['id']}", user,
                                             json={"name": "Renamed"}))
        await eventually(lambda: _waiting_on_a_lock(db_conn, "-- Change the given fields of a project"),
                         "the PATCH's UPDATE waits for the project row")
        await db_conn.execute("DELETE FROM projects WHERE id = $1::uuid", project["id"])
    resp, body = await patch
    assert resp.status == 404, body
    assert body["error"]["code"] == "not_found"
    assert await db_conn.fetchval("SELECT count(*) FROM projects WHERE id = $1::uuid", project["id"]) == 0


async def test_a_run_created_finished_has_its_completed_at(api):
    """docs/API.md section 4: `completed_at` is set when a run reaches succeeded or failed.
    A run created as succeeded or failed (POST /api/projects/{id}/runs with a `status`,
    e.g. recording a run that already ended) got `started_at` but `completed_at` null,
    and kept it null until a PATCH named the status again."""
    user = await api.user()
    project = await api.project_of(user)
    for status in ("succeeded", "failed"):
        run = await api.post(f"/api/projects/{project['id']}/runs", user, json={"status": status})
        assert run["completed_at"] is not None, run
        assert run["completed_at"] == run["started_at"] == run["created_at"]
        assert (await api.get(f"/api/runs/{run['id']}", user))["completed_at"] == run["completed_at"]
    for status in ("pending", "running"):
        run = await api.post(f"/api/projects/{project['id']}/runs", user, json={"status": status})
        assert run["completed_at"] is None


async def test_a_recount_racing_a_content_change_counts_the_stored_content(api, db_conn):
    """PATCH {"word_count": null} counts the words again (docs/API.md, Limits: null). It
    read the content without locking the post, so a change of the content committed
    between that read and its UPDATE was counted with the old words: the post kept the
    new content and the old content's word count."""
    user = await api.user()
    project = await api.project_of(user)
    post = (await api.post("/api/posts", user, json={"project_id": project["id"], "content": "one two three"}))
    async with db_conn.transaction():
        # Another writer holds the post and is about to change its content.
        await db_conn.execute("SELECT 1 FROM posts WHERE id = $1::uuid FOR UPDATE", post["id"])
        patch = asyncio.create_task(api.call("PATCH", f"/api/posts/{post['id']}", user, json={"word_count": None}))
        await eventually(lambda: _waiting_on_a_lock(db_conn, "-- "), "the recount waits for the post row")
        await db_conn.execute("UPDATE posts SET content = 'four', word_count = 1 WHERE id = $1::uuid", post["id"])
    resp, body = await patch
    assert resp.status == 200, body
    row = await db_conn.fetchrow("SELECT content, word_count FROM posts WHERE id = $1::uuid", post["id"])
    assert (row["content"], row["word_count"]) == ("four", 1)
    assert (body["content"], body["word_count"]) == ("four", 1)


# The writes that name another object (in the path or the body): it may be deleted between
# the handler's check and the INSERT or UPDATE, and the foreign key then refuses the write.
REFERRING_WRITES = (("POST", "/api/projects"), ("POST", "/api/posts"), ("POST", "/api/projects/{id}/runs"),
                    ("PATCH", "/api/projects/{id}"), ("PATCH", "/api/posts/{id}"),
                    ("POST", "/api/projects/{id}/exports"), ("POST", "/api/projects/{id}/reports"))


async def test_a_create_whose_parent_is_deleted_meanwhile_is_a_documented_409(api, db_conn):
    """A POST /api/projects whose client was deleted after the handler found it is
    refused by the foreign key: 409 `conflict`, nothing stored (README, Limits). The
    OpenAPI document listed no 409 for it, nor for the other writes that name an object
    (schemathesis holds answers to the document: a client generated from it did not
    know the answer)."""
    user = await api.user()
    client = await api.client_of(user)
    async with db_conn.transaction():
        # The INSERT's foreign key check waits for this row, which is then deleted.
        await db_conn.execute("SELECT 1 FROM clients WHERE id = $1::uuid FOR UPDATE", client["id"])
        create = asyncio.create_task(api.call("POST", "/api/projects", user,
                                              json={"client_id": client["id"], "name": "Orphan"}))
        await eventually(lambda: _waiting_on_a_lock(db_conn, "-- "), "the INSERT waits for the client row")
        await db_conn.execute("DELETE FROM clients WHERE id = $1::uuid", client["id"])
    resp, body = await create
    assert resp.status == 409, body
    assert body["error"]["code"] == "conflict"
    assert await db_conn.fetchval("SELECT count(*) FROM projects WHERE client_id = $1::uuid", client["id"]) == 0
    paths = document()["paths"]
    for method, path in REFERRING_WRITES:
        assert "409" in paths[path][method.lower()]["responses"], (method, path)


async def test_a_delete_over_the_users_database_share_is_a_documented_429(make_api, settings, db_conn):
    """A user's requests hold at most DB_USER_CONCURRENCY database sessions; one that
    waits longer than DB_POOL_TIMEOUT for its turn is 429 with Retry-After (docs/API.md
    section 2). That holds for a DELETE as for any route on the database, but the OpenAPI
    document gave the DELETE routes no 429 at all, and no route named this reason."""
    api = await make_api(settings.replace(db_user_concurrency=1, db_pool_timeout=1.0))
    user = await api.user()
    project = await api.project_of(user)
    held, other = await api.posts_of(user, project["id"], 2)
    async with db_conn.transaction():
        # The user's first DELETE waits for this row, holding the user's one session.
        await db_conn.execute("SELECT 1 FROM posts WHERE id = $1::uuid FOR UPDATE", held["id"])
        first = asyncio.create_task(api.call("DELETE", f"/api/posts/{held['id']}", user))
        await eventually(lambda: _waiting_on_a_lock(db_conn, "-- "), "the first DELETE waits for the post row")
        resp, body = await api.call("DELETE", f"/api/posts/{other['id']}", user)
    assert (await first)[0].status == 204
    assert resp.status == 429, body
    assert resp.headers["Retry-After"] == "1"
    paths = document()["paths"]
    for path in ("/api/clients/{id}", "/api/projects/{id}", "/api/posts/{id}"):
        too_many = paths[path]["delete"]["responses"].get("429")
        assert too_many is not None and "DB_USER_CONCURRENCY" in too_many["description"], path
    assert "DB_USER_CONCURRENCY" in paths["/api/posts"]["get"]["responses"]["429"]["description"]


async def test_the_default_total_price_is_the_product_of_the_prices_as_stored(api):
    """total_price defaults to num_posts x (price_per_post + research_price_per_post)
    (docs/API.md section 4). Prices are stored to the cent (numeric(12,2)), but the total
    was computed from the prices as sent and rounded once at the end: 3 posts at 0.005
    answered price_per_post 0.01 and total_price 0.02, not 0.03; 7 at 1.004 + 0.004,
    1.00 + 0.00 and 7.06, not 7.00."""
    user = await api.user()
    for num_posts, price, research, expected in ((3, 0.005, None, (0.01, None, 0.03)),
                                                 (7, 1.004, 0.004, (1.0, 0.0, 7.0)),
                                                 (2, 0.125, 0.335, (0.13, 0.34, 0.94))):
        fields = {"num_posts": num_posts, "price_per_post": price}
        if research is not None:
            fields["research_price_per_post"] = research
        project = await api.project_of(user, **fields)
        shown = (project["price_per_post"], project["research_price_per_post"], project["total_price"])
        assert shown == expected, (fields, shown)
        assert project["total_price"] == round(num_posts * (shown[0] + (shown[1] or 0)), 2)


async def test_a_deleted_projects_post_counts_go_with_it(api, db_conn):
    """The maintained post counts (post_tallies, migration 0110) of a project stayed after
    its deletion, at 0, for ever: one row per run, status and review state the project
    had ever held. A user creating and deleting projects (the cascade the API offers)
    grew the table without bound, none of it data anyone could see. Deleting a project,
    its client or its owner now deletes its tallies; a live project's stay as before."""
    user = await api.user()
    kept, dropped = await api.project_of(user), await api.project_of(user)
    for project in (kept, dropped):
        runs = [await api.post(f"/api/projects/{project['id']}/runs", user) for _ in range(3)]
        items = [{"project_id": project["id"], "content": f"post {i}", "run_id": runs[i % 3]["id"],
                  "flags": ["long"] if i % 2 else []} for i in range(12)]
        await api.post("/api/posts", user, json={"items": items})
    tallies = "SELECT count(*) FROM post_tallies WHERE project_id = $1::uuid"
    assert await db_conn.fetchval(tallies, dropped["id"]) == 6
    await api.delete(f"/api/projects/{dropped['id']}", user)
    assert await db_conn.fetchval(tallies, dropped["id"]) == 0
    assert await db_conn.fetchval(tallies, kept["id"]) == 6
    await api.delete(f"/api/clients/{kept['client_id']}", user)
    assert await db_conn.fetchval(tallies, kept["id"]) == 0
    # The owner's deletion (outside the API) cascades through projects the same way.
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 3)
    await db_conn.execute("DELETE FROM users WHERE id = $1::uuid", user.id)
    assert await db_conn.fetchval("SELECT count(*) FROM post_tallies WHERE owner_id = $1::uuid", user.id) == 0
