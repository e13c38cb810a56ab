"""Defects found by probing the semantics of clients, projects, runs and posts.

Each test reproduces, through the HTTP API against the real PostgreSQL, what a user saw
before its fix.
"""
from __future__ import annotations

import uuid


async def test_a_run_the_caller_cannot_see_named_by_a_post_is_404(api, db_conn):
    """The contract (section 3, Ownership): naming another user's object as a parent in a
    body is 404, exactly like a missing one. A post's `run_id` naming another user's run
    (or no run at all) answered 422 "not a run of this project", on create, in a bulk and
    on PATCH; a malformed run id was 404 while a well-formed unknown one was 422. Now a
    run the caller cannot see is 404 naming the field; a run of the caller's own other
    project stays 422."""
    alice, bob = await api.user(), await api.user()
    project = await api.project_of(alice)
    bobs_run = await api.post(f"/api/projects/{(await api.project_of(bob))['id']}/runs", bob)
    for run_id in (bobs_run["id"], str(uuid.uuid4()), "not-an-id"):
        body = {"project_id": project["id"], "content": "x", "run_id": run_id}
        error = (await api.post("/api/posts", alice, json=body, expect=404))["error"]
        assert (error["code"], error["field"]) == ("not_found", "run_id"), error
        items = [{"project_id": project["id"], "content": "a"}, body]
        error = (await api.post("/api/posts", alice, json={"items": items}, expect=404))["error"]
        assert error["field"] == "items[1].run_id", error
    assert await db_conn.fetchval("SELECT count(*) FROM posts WHERE project_id = $1::uuid", project["id"]) == 0

    post = (await api.posts_of(alice, project["id"], 1))[0]
    for run_id in (bobs_run["id"], str(uuid.uuid4()), "not-an-id"):
        error = (await api.patch(f"/api/posts/{post['id']}", alice, json={"run_id": run_id}, expect=404))["error"]
        assert (error["code"], error["field"]) == ("not_found", "run_id"), error
    assert (await api.get(f"/api/posts/{post['id']}", alice))["run_id"] is None

    # A run the caller sees, of another project: 422, as before (an admin sees every run).
    admin = await api.user(admin=True)
    error = (await api.patch(f"/api/posts/{post['id']}", admin, json={"run_id": bobs_run["id"]}, expect=422))["error"]
    assert error["field"] == "run_id"
    own_other = await api.post(f"/api/projects/{(await api.project_of(alice))['id']}/runs", alice)
    await api.patch(f"/api/posts/{post['id']}", alice, json={"run_id": own_other["id"]}, expect=422)
    body = {"project_id": project["id"], "content": "x", "run_id": own_other["id"]}
    await api.post("/api/posts", alice, json=body, expect=422)


async def test_a_project_created_delivered_notices_its_client(api, db_conn):
    """The contract (section 8): "a project whose status becomes `delivered` and whose
    client has an email gets a delivery notice". Only a PATCH to `delivered` enqueued one:
    a project created as `delivered` (recording work handed over already) noticed nobody,
    and a later PATCH naming `delivered` again was no change, so it never did. Now the
    create enqueues it in its own transaction, like the PATCH (one per project a day)."""
    user = await api.user()
    try:
        client = await api.client_of(user, email="buyer@example.com")
        project = await api.project_of(user, client["id"], status="delivered")
        jobs = (await api.get("/api/jobs?kind=email", user))["items"]
        assert [(job["project_id"], job["params"]["to"]) for job in jobs] == [(project["id"], "buyer@example.com")]
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        assert len((await api.get("/api/jobs?kind=email", user))["items"]) == 1
        # Another status, or a client without an email: no notice.
        await api.project_of(user, client["id"], status="ready")
        await api.project_of(user, (await api.client_of(user))["id"], status="delivered")
        assert len((await api.get("/api/jobs?kind=email", user))["items"]) == 1
    finally:
        # Queued here with no worker: another test's worker would send it (a shared database).
        await db_conn.execute("DELETE FROM jobs WHERE owner_id = $1::uuid", user.id)
