"""Defects found by probing the API as a hostile user (issue: security probe).

Each test reproduces, through the HTTP API against the real PostgreSQL, what an
attacker could do before its fix.
"""
from __future__ import annotations


async def test_delivery_notices_a_user_causes_are_held_to_their_share_of_the_queue(make_api, settings, db_conn):
    """README Limits: one user's jobs are at most JOBS_MAX_ACTIVE_PER_USER queued or
    running (delivery emails included). A delivery notice is enqueued by the project write
    that makes a project delivered, and those writes were never refused: with a cap of 3,
    one user created 10 delivered projects of a client whose email was anybody's, and held
    10 queued emails to that address (without end: one per project, a mail bomb sent by the
    service's SMTP relay). Now the user's own write that would enqueue a notice past the
    cap answers 429 with Retry-After and stores nothing; an admin's write on another
    user's project is not refused for that user's jobs."""
    api = await make_api(settings.replace(jobs_max_active_per_user=3))
    user = await api.user()
    client = await api.client_of(user, email="someone-else@example.com")
    for _ in range(3):
        await api.project_of(user, client["id"], status="delivered")
    # Created delivered, or PATCHed to delivered: the fourth notice is over the share.
    resp, body = await api.call("POST", "/api/projects", user, json={"client_id": client["id"], "name": "x",
                                                                     "status": "delivered"})
    assert resp.status == 429, body
    assert body["error"]["code"] == "too_many_requests" and int(resp.headers["Retry-After"]) > 0
    draft = await api.project_of(user, client["id"])
    resp, body = await api.call("PATCH", f"/api/projects/{draft['id']}", user, json={"status": "delivered"})
    assert resp.status == 429, body
    assert (await api.get(f"/api/projects/{draft['id']}", user))["status"] == "draft"      # nothing stored
    emails = await db_conn.fetchval("SELECT count(*) FROM jobs WHERE owner_id = $1::uuid AND kind = 'email'",
                                    user.id)
    projects = await db_conn.fetchval("SELECT count(*) FROM projects WHERE owner_id = $1::uuid", user.id)
    assert (emails, projects) == (3, 4)
    # A project write that enqueues no notice is not refused.
    await api.patch(f"/api/projects/{draft['id']}", user, json={"name": "renamed"})
    # An admin delivering the user's project is not refused for the user's jobs.
    admin = await api.user(admin=True)
    await api.patch(f"/api/projects/{draft['id']}", admin, json={"status": "delivered"})
    # Once a notice is no longer queued, the user has room again.
    await db_conn.execute("UPDATE jobs SET status = 'cancelled', finished_at = now() "
                          "WHERE owner_id = $1::uuid AND kind = 'email'", user.id)
    await api.project_of(user, client["id"], status="delivered")


async def test_the_answer_that_carries_a_bearer_token_may_not_be_stored(api):
    """A login's answer holds the access token, a credential valid for TOKEN_TTL_HOURS. It
    carried the `Cache-Control: private, no-cache` of every JSON answer, which lets a
    browser or any private cache write it to disk (no-cache only asks to revalidate
    before reuse); RFC 6749 section 5.1 and OWASP ASVS 8.2.1 ask `no-store` of any answer
    carrying a token. Now the login's answer is `no-store`; other answers keep theirs."""
    user = await api.user()
    resp, body = await api.call("POST", "/api/auth/login", json={"email": user.email, "password": "password-123"},
                                expect=200)
    assert body["access_token"]
    assert resp.headers["Cache-Control"] == "no-store"
    resp, _ = await api.call("GET", "/api/auth/me", user, expect=200)
    assert resp.headers["Cache-Control"] == "private, no-cache"


def test_the_document_names_the_429_of_a_delivery_notice():
    """The project writes that may now be refused for the owner's jobs say so in /api/openapi.json."""
    from service.api.openapi import document
    paths = document()["paths"]
    for path, method in (("/api/projects", "post"), ("/api/projects/{id}", "patch")):
        assert "JOBS_MAX_ACTIVE_PER_USER" in paths[path][method]["responses"]["429"]["description"], (path, method)
