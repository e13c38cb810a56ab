"""Adversarial probes of the cache's promise: never STALE (an answer that omits an
acknowledged write), never FOREIGN (another user's rows, or an answer computed for
another user or another filter set). Real requests against a real PostgreSQL.

Two stale reads the probes also produced are the documented bounds, not tested here as
bugs: another instance may answer from its cache until a write's NOTIFY reaches it
(README "Cache"), and with a read replica another user's write may show up to
DB_REPLICA_MAX_LAG_S late (README "Topology: read replica")."""
from __future__ import annotations

import secrets

from checks import eventually
from feedutil import settle_feed


def timing(resp) -> str:
    return resp.headers["Server-Timing"]


def cache_state(resp) -> str:
    for part in timing(resp).split(","):
        if part.strip().startswith("cache"):
            return part.split('desc="')[1].rstrip('"')
    return ""


# -- FOREIGN: one filter set served another's cached answer -------------------------------

async def test_percent_encoded_search_values_never_share_a_cache_entry(api):
    """`search=x%26y` is the text "x&y"; `search=x%2526y` is the text "x%26y". Both have
    the same *decoded* query string (yarl keeps `&` encoded, decodes `%25`), so a cache key
    memoised by request.query_string gives them one entry: the second search is answered
    with the first one's posts (in either order)."""
    user = await api.user()
    project = await api.project_of(user)
    tag = secrets.token_hex(3)
    amp = f"fish{tag}&chips"          # matched by search "fish<tag>&chips"
    pct = f"fish{tag}%26chips"        # matched by search "fish<tag>%26chips"
    await api.post("/api/posts", user, json={"items": [{"project_id": project["id"], "content": amp},
                                                       {"project_id": project["id"], "content": pct}]})
    by_amp = f"/api/posts?search=fish{tag}%26chips"
    by_pct = f"/api/posts?search=fish{tag}%2526chips"

    first = await api.get(by_amp, user)
    assert [p["content"] for p in first["items"]] == [amp]
    resp, second = await api.call("GET", by_pct, user, expect=200)
    assert [p["content"] for p in second["items"]] == [pct], (
        f"search for {pct!r} answered ({cache_state(resp)}) with the cached answer of {amp!r}")

    # The other order (fresh values, fresh memo entries): the first load is stored under the
    # key the second one reads.
    tag2 = secrets.token_hex(3)
    amp2, pct2 = f"salt{tag2}&pepper", f"salt{tag2}%26pepper"
    await api.post("/api/posts", user, json={"items": [{"project_id": project["id"], "content": amp2},
                                                       {"project_id": project["id"], "content": pct2}]})
    first = await api.get(f"/api/posts?search=salt{tag2}%2526pepper", user)
    assert [p["content"] for p in first["items"]] == [pct2]
    resp, second = await api.call("GET", f"/api/posts?search=salt{tag2}%26pepper", user, expect=200)
    assert [p["content"] for p in second["items"]] == [amp2], (
        f"search for {amp2!r} answered ({cache_state(resp)}) with the cached answer of {pct2!r}")


# -- STALE: a parent deleted on one instance, its child lists still cached on another ---

async def test_deleting_an_empty_parent_drops_child_lists_filtered_by_it_on_every_instance(api, make_api, settings):
    """A list filtered by a parent (`/api/projects?client_id=C`, `/api/runs?project_id=P`,
    `/api/posts?project_id=P`) answers 404 once that parent is gone. When the parent had no
    children in that table, the cascade deletes no child row, so no child NOTIFY is sent:
    the only payload is `clients:<owner>:<C>` (or `projects:...`), which feeds only its own
    namespace. Another instance keeps answering 200 with an empty list for a deleted parent
    (the writer's own instance drops everything locally and answers 404)."""
    other = await make_api(settings)
    user, admin = await api.user(), await api.user(admin=True)
    client = await api.client_of(user)                 # no projects
    project = await api.project_of(user)               # under another client; no runs, no posts
    cases = [(f"/api/clients/{client['id']}", [f"/api/projects?client_id={client['id']}"]),
             (f"/api/projects/{project['id']}", [f"/api/runs?project_id={project['id']}",
                                                 f"/api/posts?project_id={project['id']}"])]
    stale = []
    for parent, paths in cases:
        await settle_feed(api)
        await settle_feed(other)
        for path in paths:
            for caller in (user, admin):
                for _ in range(2):
                    resp, body = await other.call("GET", path, caller, expect=200)
                    assert body["items"] == []
                assert cache_state(resp) == "hit"
        await api.delete(parent, user)
        for path in paths:                             # the writer's own instance: dropped locally
            await api.get(path, user, expect=404)
        await settle_feed(other)                       # every notification of the delete has arrived
        for path in paths:
            for name, caller in (("owner", user), ("admin", admin)):
                resp, body = await other.call("GET", path, caller)
                if resp.status != 404:
                    stale.append(f"{name}: {path} after DELETE {parent}: {resp.status} ({cache_state(resp)}) "
                                 f"total={body['metadata']['total']}")
    assert not stale, "another instance still answers lists of a deleted parent:\n" + "\n".join(stale)


# -- What held (regression tests) -------------------------------------------------------

async def test_a_cursor_and_its_cached_page_never_cross_users_or_filters(api):
    """A's cursor page is cached under A's scope; B sending the very same query string
    (A's cursor) gets 400 invalid_cursor, not A's cached page; A's cursor with another
    filter set is 400 too, even though the unfiltered cursor page is cached."""
    alice, bob = await api.user(), await api.user()
    project = await api.project_of(alice)
    await api.posts_of(alice, project["id"], 5)
    page1 = await api.get("/api/posts?page_size=2", alice)
    cursor = page1["metadata"]["next_cursor"]
    path = f"/api/posts?page_size=2&cursor={cursor}"
    for _ in range(2):
        resp, page2 = await api.call("GET", path, alice, expect=200)
    assert cache_state(resp) == "hit" and len(page2["items"]) == 2
    resp, body = await api.call("GET", path, bob, expect=400)
    assert body["error"]["code"] == "invalid_cursor"
    for extra in ("&status=flagged", f"&project_id={project['id']}", "&order=asc", "&search=post"):
        resp, body = await api.call("GET", path + extra, alice, expect=400)
        assert body["error"]["code"] == "invalid_cursor", extra


async def test_an_etag_of_another_users_answer_never_answers_304(api):
    """If-None-Match compares with the caller's own answer (hashed body), cached or not."""
    alice, bob = await api.user(), await api.user()
    await api.posts_of(alice, (await api.project_of(alice))["id"], 2)
    await api.posts_of(bob, (await api.project_of(bob))["id"], 1)
    for path in ("/api/posts", "/api/projects", "/api/clients"):
        resp, _ = await api.call("GET", path, alice, expect=200)
        alice_etag = resp.headers["ETag"]
        for _ in range(2):                                     # a miss, then a hit on bob's side
            resp, body = await api.call("GET", path, bob, headers={"If-None-Match": alice_etag}, expect=200)
            assert resp.headers["ETag"] != alice_etag and body["metadata"]["total"] == 1, path
        resp, _ = await api.call("GET", path, alice, headers={"If-None-Match": alice_etag})
        assert resp.status == 304


async def test_admin_writes_to_a_users_rows_refresh_the_owners_cache_on_every_instance(api, make_api, settings):
    """An admin patches and deletes a user's post, then deletes the user's project (cascade):
    the owner's cached post detail, post lists and project detail (post_counts) are dropped
    on the writer's instance and, through NOTIFY, on another one."""
    other = await make_api(settings)
    owner, admin = await api.user(), await api.user(admin=True)
    project = await api.project_of(owner)
    first, second = (p["id"] for p in await api.posts_of(owner, project["id"], 2))
    listing, detail = f"/api/posts?project_id={project['id']}", f"/api/projects/{project['id']}"

    async def warm():
        for instance in (api, other):
            await settle_feed(instance)
        for instance in (api, other):
            for path in (listing, detail, f"/api/posts/{first}", "/api/posts"):
                await instance.call("GET", path, owner)
                resp, _ = await instance.call("GET", path, owner)
                assert cache_state(resp) == "hit" or resp.status == 404, path

    async def everywhere(check, what):
        for instance in (api, other):
            await eventually(lambda instance=instance: check(instance), what, timeout=10)

    await warm()
    await api.patch(f"/api/posts/{first}", admin, json={"content": "edited by the admin", "status": "flagged"})
    assert (await api.get(f"/api/posts/{first}", owner))["content"] == "edited by the admin"     # at once

    async def edited(instance):
        post = await instance.get(f"/api/posts/{first}", owner)
        counts = (await instance.get(detail, owner))["post_counts"]
        listed = {p["id"]: p["content"] for p in (await instance.get(listing, owner))["items"]}
        return post["content"] == listed[first] == "edited by the admin" and counts["flagged"] == 1
    await everywhere(edited, "the admin's edit seen by the owner")

    await warm()
    await api.delete(f"/api/posts/{first}", admin)
    await api.get(f"/api/posts/{first}", owner, expect=404)

    async def deleted(instance):
        gone = (await instance.call("GET", f"/api/posts/{first}", owner))[0].status == 404
        return gone and (await instance.get(listing, owner))["metadata"]["total"] == 1 and (
            await instance.get(detail, owner))["post_counts"]["total"] == 1
    await everywhere(deleted, "the admin's delete seen by the owner")

    await warm()
    await api.delete(f"/api/projects/{project['id']}", admin)

    async def cascaded(instance):
        return ((await instance.call("GET", detail, owner))[0].status == 404
                and (await instance.call("GET", f"/api/posts/{second}", owner))[0].status == 404
                and (await instance.get("/api/posts", owner))["metadata"]["total"] == 0)
    await everywhere(cascaded, "the admin's project delete (cascade) seen by the owner")


async def test_a_demoted_or_deleted_admin_is_never_answered_from_the_admin_scope(api, make_api, settings, db_conn):
    """An admin's cached admin-wide answers (every owner's rows) stop the moment the flag
    is withdrawn (an operator's UPDATE, NOTIFY), on every instance; a deleted user's cached
    token is refused."""
    other = await make_api(settings)
    boss, someone = await api.user(admin=True), await api.user()
    await api.posts_of(someone, (await api.project_of(someone))["id"], 3)
    for instance in (api, other):
        await settle_feed(instance)
    for instance in (api, other):
        for _ in range(2):
            resp, body = await instance.call("GET", "/api/posts?page_size=100", boss, expect=200)
        assert cache_state(resp) == "hit" and body["metadata"]["total"] >= 3

    await db_conn.execute("UPDATE users SET is_admin = false WHERE id = $1::uuid", boss.id)
    for instance in (api, other):
        await settle_feed(instance)
        body = await instance.get("/api/posts?page_size=100", boss)
        assert body["items"] == [] and body["metadata"]["total"] == 0, "a demoted admin got admin-wide rows"
        await instance.call("GET", "/api/health/cache", boss, expect=403)

    await db_conn.execute("DELETE FROM users WHERE id = $1::uuid", boss.id)
    for instance in (api, other):
        await settle_feed(instance)
        await instance.call("GET", "/api/posts?page_size=100", boss, expect=401)
