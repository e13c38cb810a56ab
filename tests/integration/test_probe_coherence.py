"""Probes of the cache's promise (never stale after an acknowledged write, never another
user's answer) across instances, scopes, cascades and feed outages, against a real
PostgreSQL. Each waits for the other instance's feed to have handled every NOTIFY sent
so far (settle_feed) before it checks: the instant between a commit and another
instance reading its notification is the documented bound (README "Cache")."""
from __future__ import annotations

from checks import eventually
from feedutil import settle_feed

from service import keys


def cache_state(resp) -> str:
    for part in resp.headers["Server-Timing"].split(","):
        if part.strip().startswith("cache"):
            return part.split('desc="')[1].rstrip('"')
    return ""


async def _snapshot(instance, who, paths):
    out = {}
    for path in paths:
        resp, body = await instance.call("GET", path, who)
        out[path] = (resp.status, body)
    return out


async def test_client_delete_cascade_drops_every_derived_answer_everywhere(api, make_api, settings):
    other = await make_api(settings)
    owner, admin = await api.user(), await api.user(admin=True)
    client = await api.client_of(owner)
    keep = await api.client_of(owner)
    project = await api.project_of(owner, client_id=client["id"])
    kept_project = await api.project_of(owner, client_id=keep["id"])
    run = await api.post(f"/api/projects/{project['id']}/runs", owner, json={})
    posts = await api.posts_of(owner, project["id"], 3, run_id=run["id"])
    await api.posts_of(owner, kept_project["id"], 2)
    paths = ["/api/clients", f"/api/clients/{client['id']}", "/api/projects",
             f"/api/projects/{project['id']}", f"/api/projects?client_id={client['id']}",
             f"/api/projects/{kept_project['id']}",
             "/api/runs", f"/api/runs/{run['id']}", f"/api/runs?project_id={project['id']}",
             "/api/posts", f"/api/posts/{posts[0]['id']}", f"/api/posts?project_id={project['id']}",
             f"/api/posts?run_id={run['id']}", "/api/posts?status=approved",
             f"/api/posts?project_id={project['id']}&status=approved"]
    for instance in (api, other):
        await settle_feed(instance)
    for instance in (api, other):
        for who in (owner, admin):
            await _snapshot(instance, who, paths)
            for path in paths:
                resp, _ = await instance.call("GET", path, who)
                assert cache_state(resp) == "hit", (path, cache_state(resp))
    await api.delete(f"/api/clients/{client['id']}", owner)
    for instance in (other, api):
        await settle_feed(instance)
    fresh = await make_api(settings.replace(cache_enabled=False))
    for who in (owner, admin):
        truth = await _snapshot(fresh, who, paths)
        for instance in (api, other):
            seen = await _snapshot(instance, who, paths)
            for path in paths:
                t_status, t_body = truth[path]
                s_status, s_body = seen[path]
                if t_status == 200 and "metadata" in t_body:
                    assert s_status == 200 and [i["id"] for i in s_body["items"]] == [i["id"] for i in t_body["items"]] \
                        and s_body["metadata"]["total"] == t_body["metadata"]["total"], (instance is api, who.id, path)
                else:
                    assert (s_status, s_body if s_status == 200 else None) == (
                        t_status, t_body if t_status == 200 else None), (instance is api, path)


async def test_a_write_made_while_the_listener_is_gone_is_never_served_stale(api, make_api, settings, db_conn):
    other = await make_api(settings)
    owner = await api.user()
    project = await api.project_of(owner)
    post = (await api.posts_of(owner, project["id"], 1))[0]
    detail = f"/api/posts/{post['id']}"
    await settle_feed(api)
    await api.get(detail, owner)
    resp, _ = await api.call("GET", detail, owner)
    assert cache_state(resp) == "hit"
    feed = api.client.app[keys.CACHE_FEED]
    pid = feed.backend_pid
    assert await db_conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)   # waits for it to exit
    await other.patch(detail, owner, json={"content": "written while the feed was gone"})
    assert (await api.get(detail, owner))["content"] == "written while the feed was gone"
    # And once the feed is back (it starts empty: what changed meanwhile is unknown).
    await eventually(lambda: feed.connected.is_set() and feed.backend_pid not in (None, pid), "the feed reconnects")
    await other.patch(detail, owner, json={"content": "written after it came back"})
    await settle_feed(api)
    assert (await api.get(detail, owner))["content"] == "written after it came back"


async def _held(instance, loader_body, tier, namespace, key, scope, item=""):
    import asyncio
    read, release = asyncio.Event(), asyncio.Event()

    async def slow_loader():
        value = await loader_body()
        read.set()
        await release.wait()
        return value

    task = asyncio.create_task(instance.client.app[keys.CACHE].get_or_load(
        tier, namespace, key, slow_loader, scope=scope, item=item))
    await read.wait()
    return task, release


async def test_a_load_on_one_instance_straddling_a_write_on_another_is_not_stored(api, make_api, settings):
    from uuid import UUID

    from service.api.common import CachedBody
    from service.http.responses import etag_for
    from service.jsonutil import dumps
    from service.store import posts
    other = await make_api(settings)
    owner = await api.user()
    project = await api.project_of(owner)
    post = (await api.posts_of(owner, project["id"], 1))[0]

    async def body():
        row = await posts.get(other.client.app[keys.DB], UUID(post["id"]), UUID(owner.id))
        data = dumps(dict(row))
        return CachedBody(data, etag_for(data))
    await settle_feed(other)
    task, release = await _held(other, body, "short", "posts", f"get|{post['id']}", owner.id, post["id"])
    await api.patch(f"/api/posts/{post['id']}", owner, json={"content": "after"})
    await settle_feed(other)
    release.set()
    assert b"post number 0" in (await task).body                    # it did read the old row...
    assert (await other.get(f"/api/posts/{post['id']}", owner))["content"] == "after"   # ...not stored


async def test_a_token_lookup_straddling_a_logout_on_another_instance_is_not_stored(api, make_api, settings):
    from service.auth.guards import _Session
    from service.auth.tokens import token_digest
    from service.auth.user import User
    from service.store import users
    other = await make_api(settings)
    someone = await api.user()

    async def lookup():
        row = dict(await users.by_token(other.client.app[keys.DB], token_digest(someone.token)))
        return _Session(User(**{k: v for k, v in row.items() if k != "expires_at"}), row["expires_at"].timestamp())
    await settle_feed(other)
    task, release = await _held(other, lookup, "long", "users", "token|" + someone.token, "")
    await api.post("/api/auth/logout", someone, expect=204)
    await settle_feed(other)
    release.set()
    await task                                                       # read before the logout
    await other.get("/api/auth/me", someone, expect=401)


async def test_an_old_etag_is_never_answered_304_after_a_write_on_another_instance(api, make_api, settings):
    other = await make_api(settings)
    owner = await api.user()
    project = await api.project_of(owner)
    post = (await api.posts_of(owner, project["id"], 1))[0]
    await settle_feed(other)
    paths = (f"/api/posts/{post['id']}", f"/api/projects/{project['id']}", "/api/posts")
    etags = {}
    for path in paths:
        resp, _ = await other.call("GET", path, owner)
        etags[path] = resp.headers["ETag"]
        resp, _ = await other.call("GET", path, owner, headers={"If-None-Match": etags[path]})
        assert resp.status == 304 and cache_state(resp) == "hit", path
    await api.patch(f"/api/posts/{post['id']}", owner, json={"content": "changed", "status": "flagged"})
    await settle_feed(other)
    for path in paths:
        resp, _ = await other.call("GET", path, owner, headers={"If-None-Match": etags[path]})
        assert resp.status == 200 and resp.headers["ETag"] != etags[path], path


async def test_a_load_that_outlives_a_feed_outage_is_not_stored(api, make_api, settings, db_conn):
    """A load reads the old row, the feed drops, another instance writes (its NOTIFY is
    lost), the feed comes back, the load finishes: it must not be stored."""
    from uuid import UUID

    from service.api.common import CachedBody
    from service.http.responses import etag_for
    from service.jsonutil import dumps
    from service.store import posts
    other = await make_api(settings)
    owner = await api.user()
    project = await api.project_of(owner)
    post = (await api.posts_of(owner, project["id"], 1))[0]

    async def body():
        row = await posts.get(api.client.app[keys.DB], UUID(post["id"]), UUID(owner.id))
        data = dumps(dict(row))
        return CachedBody(data, etag_for(data))
    await settle_feed(api)
    task, release = await _held(api, body, "short", "posts", f"get|{post['id']}", owner.id, post["id"])
    feed = api.client.app[keys.CACHE_FEED]
    pid = feed.backend_pid
    assert await db_conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    await eventually(lambda: not feed.connected.is_set() or feed.backend_pid not in (None, pid), "the loss is seen")
    await other.patch(f"/api/posts/{post['id']}", owner, json={"content": "while the feed was down"})
    await eventually(lambda: feed.connected.is_set() and feed.backend_pid not in (None, pid), "the feed reconnects")
    release.set()
    assert b"post number 0" in (await task).body
    assert (await api.get(f"/api/posts/{post['id']}", owner))["content"] == "while the feed was down"
