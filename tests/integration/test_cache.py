"""The query cache on a real PostgreSQL: hits, freshness after every write, scope,
single-flight, bounds, TTL, cross-instance coherence, listener recovery, races."""
from __future__ import annotations

import asyncio
import random

from checks import eventually
from feedutil import settle_feed

from service import keys


def cache_of(api):
    return api.client.app[keys.CACHE]


def timing(resp) -> str:
    return resp.headers["Server-Timing"]


async def tier_stats(api, admin, tier="short") -> dict:
    return (await api.get(f"/api/health/cache?tier={tier}", admin))["tiers"][tier]


async def list_total(api, user, path="/api/posts") -> int:
    return (await api.get(path, user))["metadata"]["total"]


async def test_hits_and_misses_are_counted_and_reported(api):
    admin = await api.user(admin=True)
    await api.post("/api/health/cache/reset-stats", admin, expect=200)
    await api.post("/api/health/cache/clear", admin, expect=200)
    before = await tier_stats(api, admin)

    first, _ = await api.call("GET", "/api/posts?page_size=5", admin, expect=200)
    second, _ = await api.call("GET", "/api/posts?page_size=5", admin, expect=200)

    assert 'cache;desc="miss"' in timing(first)
    assert 'cache;desc="hit"' in timing(second)
    assert 'db;dur=0.00;desc="0 queries"' in timing(second)      # token and list both from memory
    after = await tier_stats(api, admin)
    assert after["misses"] - before["misses"] == 1
    assert after["hits"] - before["hits"] == 1
    assert after["sets"] - before["sets"] == 1
    assert after["size"] >= 1


async def test_parameter_order_does_not_matter(api):
    user = await api.user()
    await api.get("/api/posts?page_size=5&order=asc", user)
    resp, _ = await api.call("GET", "/api/posts?order=asc&page_size=5", user, expect=200)
    assert 'cache;desc="hit"' in timing(resp)


async def test_user_b_never_receives_user_a_cached_answers(api):
    alice, bob = await api.user(), await api.user()
    project = await api.project_of(alice)
    posts = await api.posts_of(alice, project["id"], 3)
    seen_by_alice = await api.get("/api/posts?page_size=10", alice)
    assert {p["id"] for p in seen_by_alice["items"]} == {p["id"] for p in posts}
    await api.get(f"/api/posts/{posts[0]['id']}", alice)          # cached detail

    seen_by_bob = await api.get("/api/posts?page_size=10", bob)
    assert seen_by_bob["items"] == [] and seen_by_bob["metadata"]["total"] == 0
    await api.get(f"/api/posts/{posts[0]['id']}", bob, expect=404)
    await api.get(f"/api/projects/{project['id']}", bob, expect=404)


async def _warm(api, user, *paths, settle=True):
    if settle:
        await settle_feed(api)
    for path in paths:
        await api.call("GET", path, user)
        resp, _ = await api.call("GET", path, user)
        assert 'cache;desc="hit"' in timing(resp) or resp.status == 404, path


async def test_post_writes_refresh_lists_details_totals_and_post_counts(api):
    user = await api.user()
    project = await api.project_of(user)
    pid = project["id"]
    detail = f"/api/projects/{pid}"
    listing = f"/api/posts?project_id={pid}"
    await _warm(api, user, detail, listing)

    created = await api.post("/api/posts", user, json={"project_id": pid, "content": "one two three"})
    assert (await api.get(listing, user))["metadata"]["total"] == 1
    assert (await api.get(detail, user))["post_counts"] == {"total": 1, "approved": 1, "flagged": 0}

    await _warm(api, user, f"/api/posts/{created['id']}", listing, detail)
    await api.patch(f"/api/posts/{created['id']}", user, json={"content": "changed words here now", "status": "flagged"})
    assert (await api.get(f"/api/posts/{created['id']}", user))["content"] == "changed words here now"
    assert (await api.get(listing, user))["items"][0]["word_count"] == 4
    assert (await api.get(detail, user))["post_counts"] == {"total": 1, "approved": 0, "flagged": 1}

    await _warm(api, user, listing, detail)
    await api.post("/api/posts", user, json={"items": [{"project_id": pid, "content": f"bulk {i}"} for i in range(4)]})
    assert (await api.get(listing, user))["metadata"]["total"] == 5
    assert (await api.get(detail, user))["post_counts"]["total"] == 5

    await _warm(api, user, listing, detail, f"/api/posts/{created['id']}")
    await api.delete(f"/api/posts/{created['id']}", user)
    await api.get(f"/api/posts/{created['id']}", user, expect=404)
    assert (await api.get(listing, user))["metadata"]["total"] == 4
    assert (await api.get(detail, user))["post_counts"]["total"] == 4


async def test_client_project_and_run_writes_refresh_reads(api):
    user = await api.user()
    await _warm(api, user, "/api/clients", "/api/projects", "/api/runs")
    client = await api.client_of(user, name="Before")
    assert (await list_total(api, user, "/api/clients")) == 1

    await _warm(api, user, "/api/clients", f"/api/clients/{client['id']}")
    await api.patch(f"/api/clients/{client['id']}", user, json={"name": "After"})
    assert (await api.get(f"/api/clients/{client['id']}", user))["name"] == "After"
    assert (await api.get("/api/clients", user))["items"][0]["name"] == "After"

    project = await api.project_of(user, client["id"])
    assert (await list_total(api, user, "/api/projects")) == 1
    await _warm(api, user, "/api/projects", f"/api/projects/{project['id']}")
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "ready"})
    assert (await api.get(f"/api/projects/{project['id']}", user))["status"] == "ready"
    assert (await api.get("/api/projects?status=ready", user))["metadata"]["total"] == 1

    run = await api.post(f"/api/projects/{project['id']}/runs", user, json={})
    assert (await list_total(api, user, "/api/runs")) == 1
    await _warm(api, user, f"/api/runs/{run['id']}", "/api/runs")
    await api.patch(f"/api/runs/{run['id']}", user, json={"status": "succeeded"})
    assert (await api.get(f"/api/runs/{run['id']}", user))["status"] == "succeeded"
    assert (await api.get("/api/runs", user))["items"][0]["status"] == "succeeded"

    await api.posts_of(user, project["id"], 2)
    await _warm(api, user, "/api/posts", "/api/runs", "/api/projects", f"/api/projects/{project['id']}")
    await api.delete(f"/api/clients/{client['id']}", user)       # cascades
    assert (await list_total(api, user, "/api/clients")) == 0
    assert (await list_total(api, user, "/api/projects")) == 0
    assert (await list_total(api, user, "/api/runs")) == 0
    assert (await list_total(api, user, "/api/posts")) == 0
    await api.get(f"/api/projects/{project['id']}", user, expect=404)


async def test_logout_stops_a_cached_token_at_once(api):
    user = await api.user()
    await settle_feed(api)
    await api.call("GET", "/api/auth/me", user, expect=200)
    resp, _ = await api.call("GET", "/api/auth/me", user, expect=200)
    assert 'desc="0 queries"' in timing(resp)             # the token lookup is a cache hit
    await api.call("POST", "/api/auth/logout", user, expect=204)
    await api.get("/api/auth/me", user, expect=401)


async def test_second_instance_sees_a_write_through_notify(api, make_api, settings):
    """Another instance's cached answers are dropped by NOTIFY after the write. (How fast
    is a figure for benchmarks; here it must happen, well before any TTL could expire.)"""
    other = await make_api(settings)
    user = await api.user()
    project = await api.project_of(user)
    listing = f"/api/posts?project_id={project['id']}"
    await _warm(other, user, listing, f"/api/projects/{project['id']}")

    await api.post("/api/posts", user, json={"project_id": project["id"], "content": "from instance one"})
    async def listing_total():
        return (await other.get(listing, user))["metadata"]["total"] == 1
    await eventually(listing_total, "the second instance serves the post-write list")
    assert (await other.get(f"/api/projects/{project['id']}", user))["post_counts"]["total"] == 1

    # Logout through one instance ends the token on the other too.
    await api.call("POST", "/api/auth/logout", user, expect=204)
    async def token_refused():
        return (await other.call("GET", "/api/auth/me", user))[0].status == 401
    await eventually(token_refused, "the other instance refuses the logged-out token")


async def test_post_writes_refresh_project_details_and_keep_projects_lists(api, make_api, settings):
    """Posts feed a project's detail (post counts), not the projects list: after a create,
    a status patch and a delete of a post, on the writer's instance and on another one
    (NOTIFY), the owner's and the admin's project details show the new counts while their
    cached projects lists are still hits."""
    other = await make_api(settings)
    user, admin = await api.user(), await api.user(admin=True)
    project = await api.project_of(user)
    detail = f"/api/projects/{project['id']}"

    async def warm_everywhere():
        for instance in (api, other):
            for caller in (user, admin):
                await _warm(instance, caller, "/api/projects", detail)

    async def counts(instance, caller, total, approved):
        async def counted():
            found = (await instance.get(detail, caller))["post_counts"]
            return (found["total"], found["approved"]) == (total, approved)
        await eventually(counted, f"{detail} counts {total} posts, {approved} approved")
        resp, _ = await instance.call("GET", "/api/projects", caller, expect=200)
        assert 'cache;desc="hit"' in timing(resp)

    async def counts_everywhere(total, approved):
        for instance in (api, other):
            for caller in (user, admin):
                await counts(instance, caller, total, approved)

    await warm_everywhere()
    created = await api.post("/api/posts", user, json={"project_id": project["id"], "content": "counted",
                                                       "status": "approved"})
    await counts_everywhere(1, 1)
    await warm_everywhere()
    await api.patch(f"/api/posts/{created['id']}", user, json={"status": "flagged"})
    await counts_everywhere(1, 0)
    await warm_everywhere()
    await api.delete(f"/api/posts/{created['id']}", user)
    await counts_everywhere(0, 0)


async def test_one_tenants_write_keeps_another_tenants_cache_on_every_instance(api, make_api, settings):
    """Invalidation is scoped to the owner whose rows changed: B's cached answers survive A's
    write on the writer's instance and on another one (NOTIFY payload `posts:<owner>`),
    while A's own list and the admin's are refreshed."""
    other = await make_api(settings)
    alice, bob, admin = await api.user(), await api.user(), await api.user(admin=True)
    alice_project, bob_project = await api.project_of(alice), await api.project_of(bob)
    await api.posts_of(bob, bob_project["id"], 2)
    alice_list, bob_list = f"/api/posts?project_id={alice_project['id']}", "/api/posts"
    await settle_feed(api)           # its marker reaches both instances' feeds: settle once, then warm
    await settle_feed(other)
    for instance in (api, other):
        await _warm(instance, alice, alice_list, settle=False)
        await _warm(instance, bob, bob_list, f"/api/projects/{bob_project['id']}", settle=False)
        await _warm(instance, admin, "/api/posts?page_size=5", settle=False)

    await api.post("/api/posts", alice, json={"project_id": alice_project["id"], "content": "alice writes"})

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while (await other.get(alice_list, alice))["metadata"]["total"] != 1:     # A's notification arrived
        assert loop.time() < deadline, "the other instance still serves alice's pre-write list"
        await asyncio.sleep(0.02)
    for instance in (api, other):
        assert (await instance.get(alice_list, alice))["metadata"]["total"] == 1
        for path in (bob_list, f"/api/projects/{bob_project['id']}"):
            resp, _ = await instance.call("GET", path, bob, expect=200)
            assert 'cache;desc="hit"' in timing(resp), f"bob's {path} was dropped by alice's write"
        resp, body = await instance.call("GET", "/api/posts?page_size=5", admin, expect=200)
        assert "alice writes" in [p["content"] for p in body["items"]]         # the admin sees every owner


async def test_a_write_to_one_post_keeps_the_owners_other_cached_posts_on_every_instance(api, make_api, settings,
                                                                                         db_conn):
    """Invalidation scoped to the rows changed (migration 0100): a patch of one post drops
    the owner's lists and that post's details, on the writer's instance and another; the
    owner's other posts stay cached; a create drops no detail; a statement changing more
    than 100 rows drops everything of the owner; nothing stale is ever answered."""
    other = await make_api(settings)
    alice, admin = await api.user(), await api.user(admin=True)
    project = await api.project_of(alice)
    changed, kept, gone = (p["id"] for p in await api.posts_of(alice, project["id"], 3))
    listing = f"/api/posts?project_id={project['id']}"
    await settle_feed(api)
    await settle_feed(other)
    for instance in (api, other):
        await _warm(instance, alice, listing, f"/api/posts/{changed}", f"/api/posts/{kept}",
                    f"/api/posts/{gone}", settle=False)
        await _warm(instance, admin, f"/api/posts/{changed}", f"/api/posts/{kept}", settle=False)

    async def on_both(check, what):
        for instance in (api, other):
            await eventually(lambda instance=instance: check(instance), f"{what} on every instance")

    async def hit(instance, user, path):
        resp, _ = await instance.call("GET", path, user, expect=200)
        return 'cache;desc="hit"' in timing(resp)

    # A patch: the patched post is fresh everywhere, the other posts are still hits.
    await api.call("PATCH", f"/api/posts/{changed}", alice, json={"content": "patched"}, expect=200)
    async def patched_seen(instance):
        return [(await instance.get(f"/api/posts/{changed}", user))["content"] for user in (alice, admin)] == [
            "patched", "patched"]
    await on_both(patched_seen, "the patched post")
    for instance in (api, other):
        contents = [p["content"] for p in (await instance.get(listing, alice))["items"]]
        assert "patched" in contents
        assert await hit(instance, alice, f"/api/posts/{kept}"), "alice's other post was dropped"
        assert await hit(instance, admin, f"/api/posts/{kept}"), "the admin's copy of another post was dropped"

    # A create: the lists grow, every cached detail stays. First every notification of the
    # patch has arrived everywhere (the writer's own comes after its local invalidation and
    # would drop the patched post's detail again), and the details are cached anew.
    for instance in (api, other):
        await settle_feed(instance)
    for instance in (api, other):
        await _warm(instance, alice, f"/api/posts/{changed}", f"/api/posts/{kept}", settle=False)
    await api.post("/api/posts", alice, json={"project_id": project["id"], "content": "created"})
    async def four(instance):
        return (await instance.get(listing, alice))["metadata"]["total"] == 4
    await on_both(four, "the created post in alice's list")
    for instance in (api, other):
        for path in (f"/api/posts/{changed}", f"/api/posts/{kept}"):
            assert await hit(instance, alice, path), f"a create dropped {path}"

    # A delete: that post is gone everywhere, the others stay.
    await api.call("DELETE", f"/api/posts/{gone}", alice, expect=204)
    async def deleted(instance):
        return (await instance.call("GET", f"/api/posts/{gone}", alice))[0].status == 404
    await on_both(deleted, "the deleted post")
    for instance in (api, other):
        assert await hit(instance, alice, f"/api/posts/{kept}")

    # One statement over more than 100 rows (here from psql's side): everything of the owner.
    await api.posts_of(alice, project["id"], 100)
    await settle_feed(api)
    await settle_feed(other)
    for instance in (api, other):
        await _warm(instance, alice, f"/api/posts/{kept}", settle=False)
    await db_conn.execute("UPDATE posts SET content = content || ' (bulk)' WHERE owner_id = $1", alice.id)
    async def bulk_seen(instance):
        return (await instance.get(f"/api/posts/{kept}", alice))["content"].endswith("(bulk)")
    await on_both(bulk_seen, "the bulk update")


async def test_concurrent_misses_run_the_query_once(api):
    user = await api.user()
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 5)
    await settle_feed(api)
    await api.get("/api/auth/me", user)                # token cached: only the list is loading
    executions = []
    api.client.app[keys.DB].observers.append(lambda q, ms, rows: executions.append(q.name))
    loads_before = cache_of(api).loads

    responses = await asyncio.gather(*(api.call("GET", "/api/posts?page_size=3", user) for _ in range(25)))

    assert all(resp.status == 200 for resp, _ in responses)
    assert len({str(body) for _, body in responses}) == 1
    assert executions.count("posts/list_offset_desc") == 1
    assert executions.count("posts/count") == 1
    assert cache_of(api).loads - loads_before == 1


async def test_a_failed_load_is_not_cached(api):
    user = await api.user()
    for _ in range(2):
        resp, body = await api.call("GET", "/api/posts?page_size=0", user, expect=400)
        assert 'cache;desc="miss"' in timing(resp)
        assert body["error"]["field"] == "page_size"


async def test_lru_bound_and_eviction_counts(make_api, settings):
    api = await make_api(settings.replace(cache_max_size=3))
    admin = await api.user(admin=True)
    user = await api.user()
    before = await tier_stats(api, admin)
    for size in range(1, 6):
        await api.get(f"/api/posts?page_size={size}", user)
    after = await tier_stats(api, admin)
    assert after["size"] == 3 and after["maxsize"] == 3
    assert after["evictions"] - before["evictions"] >= 2
    resp, _ = await api.call("GET", "/api/posts?page_size=1", user, expect=200)     # the oldest: evicted
    assert 'cache;desc="miss"' in timing(resp)
    resp, _ = await api.call("GET", "/api/posts?page_size=5", user, expect=200)     # the newest: kept
    assert 'cache;desc="hit"' in timing(resp)


async def test_entries_expire_after_their_ttl(make_api, settings):
    """Only bounds that load cannot break: a lookup that ends before TTL seconds after the
    request that stored it started must hit; the first miss comes no earlier than TTL."""
    ttl = 2
    api = await make_api(settings.replace(cache_short_ttl=ttl))
    user = await api.user()
    await api.get("/api/auth/me", user)                   # the token lookup is not what expires here
    await settle_feed(api)                                # no stray invalidation from the setup
    loop = asyncio.get_running_loop()
    stored_from = loop.time()
    await api.get("/api/posts", user)
    resp, _ = await api.call("GET", "/api/posts", user, expect=200)
    if loop.time() - stored_from < ttl:                   # else the machine was too slow to tell
        assert 'cache;desc="hit"' in timing(resp)

    async def missed():
        resp, _ = await api.call("GET", "/api/posts", user, expect=200)
        return 'cache;desc="miss"' in timing(resp)
    await eventually(missed, "the entry expires", interval=0.1)
    assert loop.time() - stored_from >= ttl


async def test_disabled_cache_is_bypassed(make_api, settings):
    """CACHE_ENABLED=false: no response is cached; token lookups still are (AUTH_CACHE_ENABLED,
    tests/integration/test_token_cache.py), unless that is off too."""
    for auth_cache in (True, False):
        api = await make_api(settings.replace(cache_enabled=False, auth_cache_enabled=auth_cache))
        user = await api.user()
        for _ in range(2):
            resp, _ = await api.call("GET", "/api/posts", user, expect=200)
            assert 'cache;desc="bypass"' in timing(resp)
        stats = cache_of(api).report()["tiers"]
        assert sum(stats[t]["hits"] + stats[t]["sets"] for t in ("short", "medium")) == 0
        assert stats["long"]["sets"] + stats["long"]["hits"] <= (2 if auth_cache else 0)


async def test_cache_endpoints_need_an_admin_and_validate_input(api):
    user, admin = await api.user(), await api.user(admin=True)
    for method, path in (("GET", "/api/health/cache"), ("POST", "/api/health/cache/clear"),
                         ("POST", "/api/health/cache/reset-stats")):
        await api.call(method, path, None, expect=401)
        await api.call(method, path, user, expect=403)
        await api.call(method, path, admin, expect=200)
    await api.call("GET", "/api/health/cache?tier=huge", admin, expect=400)
    await api.call("POST", "/api/health/cache/clear?key_prefix=secrets", admin, expect=400)
    await api.call("POST", "/api/health/cache/clear?tier=short&bogus=1", admin, expect=400)

    report = await api.get("/api/health/cache", admin)
    assert set(report["tiers"]) == {"short", "medium", "long"}
    for tier in report["tiers"].values():
        assert set(tier) >= {"size", "maxsize", "ttl_seconds", "hits", "misses", "sets", "evictions",
                             "invalidations", "hit_rate_percent"}
    assert report["recommendations"]


async def test_clear_by_prefix_and_reset_stats(api):
    admin = await api.user(admin=True)
    await _warm(api, admin, "/api/posts", "/api/clients")
    cleared = await api.post("/api/health/cache/clear?key_prefix=posts", admin, expect=200)
    assert cleared["before"]["short"] >= 1 and cleared["after"]["short"] < cleared["before"]["short"]
    resp, _ = await api.call("GET", "/api/posts", admin, expect=200)
    assert 'cache;desc="miss"' in timing(resp)
    resp, _ = await api.call("GET", "/api/clients", admin, expect=200)           # other prefix kept
    assert 'cache;desc="hit"' in timing(resp)

    report = await api.post("/api/health/cache/reset-stats", admin, expect=200)
    assert all(t["hits"] == 0 and t["misses"] == 0 for t in report["tiers"].values())
    assert report["tiers"]["medium"]["size"] >= 1                                  # entries kept


async def test_listener_survives_termination_and_drops_the_cache_meanwhile(api, make_api, settings, db_conn):
    feed = api.client.app[keys.CACHE_FEED]
    user = await api.user()
    await _warm(api, user, "/api/posts")
    reconnects = feed.reconnects
    pid = feed.backend_pid
    assert pid is not None

    assert await db_conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    await eventually(lambda: feed.reconnects != reconnects and feed.connected.is_set(),
                     "the invalidation listener reconnects")
    assert feed.backend_pid not in (None, pid)

    # The entry cached before the outage was dropped.
    resp, _ = await api.call("GET", "/api/posts", user, expect=200)
    assert 'cache;desc="miss"' in timing(resp)

    # And writes from another instance reach this one again.
    other = await make_api(settings)
    project = await other.project_of(user)
    await other.posts_of(user, project["id"], 1)
    async def total_is_one():
        return (await api.get("/api/posts", user))["metadata"]["total"] == 1
    await eventually(total_is_one, "a write from another instance reaches this one again")


async def test_interleaved_reader_and_writer_never_leave_the_pre_write_answer(api):
    user = await api.user()
    project = await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1))[0]
    detail, listing = f"/api/posts/{post['id']}", f"/api/posts?project_id={project['id']}"
    stop = asyncio.Event()

    async def reader():
        while not stop.is_set():
            await api.call("GET", random.choice((detail, listing)), user)
            await asyncio.sleep(random.random() * 0.002)

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    try:
        for version in range(40):
            content = f"version {version}"
            await api.patch(detail, user, json={"content": content})
            # Right after the write has returned, both answers are the new one.
            assert (await api.get(detail, user))["content"] == content
            assert (await api.get(listing, user))["items"][0]["content"] == content
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def _held_load(api, user, post_id):
    """Start a cached load of a post's detail that reads the row, then waits to be released."""
    from uuid import UUID

    from service.api.common import CachedBody
    from service.http.responses import etag_for
    from service.jsonutil import dumps
    from service.store import posts

    read, release = asyncio.Event(), asyncio.Event()

    async def slow_loader():
        row = await posts.get(api.client.app[keys.DB], UUID(post_id), UUID(user.id))
        read.set()
        await release.wait()
        body = dumps(dict(row))
        return CachedBody(body, etag_for(body))

    # The key cached_json uses for GET /api/posts/{id} by this (non-admin) user.
    task = asyncio.create_task(
        cache_of(api).get_or_load("short", "posts", f"get|{post_id}", slow_loader, scope=user.id))
    await read.wait()
    return task, release


async def test_a_load_that_straddles_a_write_is_not_stored(api):
    user = await api.user()
    project = await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1))[0]
    task, release = await _held_load(api, user, post["id"])     # has read the old row

    await api.patch(f"/api/posts/{post['id']}", user, json={"content": "after the write"})
    release.set()
    stale = await task
    assert b"post number 0" in stale.body                          # it did load the old row...
    assert (await api.get(f"/api/posts/{post['id']}", user))["content"] == "after the write"   # ...not stored


async def test_a_read_after_a_write_does_not_join_a_load_from_before_it(api):
    user = await api.user()
    project = await api.project_of(user)
    post = (await api.posts_of(user, project["id"], 1))[0]
    task, release = await _held_load(api, user, post["id"])
    try:
        await api.patch(f"/api/posts/{post['id']}", user, json={"content": "newer"})
        # Joining the held load would wait for it (and then answer the old row).
        fresh = await asyncio.wait_for(api.get(f"/api/posts/{post['id']}", user), 60)   # joining would hang
        assert fresh["content"] == "newer"
    finally:
        release.set()
        await task


async def test_local_invalidation_alone_keeps_the_writers_worker_fresh(api):
    """With the NOTIFY callback detached, this worker's own writes still refresh its reads."""
    from service.cache.feed import CHANNEL

    feed = api.client.app[keys.CACHE_FEED]
    await feed._conn.remove_listener(CHANNEL, feed._notified)
    user = await api.user()
    project = await api.project_of(user)
    listing = f"/api/posts?project_id={project['id']}"
    await _warm(api, user, listing, f"/api/projects/{project['id']}", settle=False)   # nothing is heard here
    created = await api.post("/api/posts", user, json={"project_id": project["id"], "content": "fresh"})
    assert (await api.get(listing, user))["metadata"]["total"] == 1
    assert (await api.get(f"/api/projects/{project['id']}", user))["post_counts"]["total"] == 1
    await _warm(api, user, f"/api/posts/{created['id']}", settle=False)
    await api.delete(f"/api/posts/{created['id']}", user)
    await api.get(f"/api/posts/{created['id']}", user, expect=404)
    assert (await api.get(listing, user))["metadata"]["total"] == 0


async def test_listen_url_is_used_and_a_dead_feed_means_no_caching(make_api, settings):
    """DATABASE_LISTEN_URL (set when DATABASE_URL goes through PgBouncer) is where the
    feed listens; if it cannot listen, the API still answers, but never from the cache."""
    api = await make_api(settings.replace(database_listen_url="postgresql://postgres@127.0.0.1:9/nowhere"))
    user = await api.user()
    for _ in range(2):
        resp, _ = await api.call("GET", "/api/posts", user, expect=200)
        assert 'cache;desc="bypass"' in timing(resp)
    admin = await api.user(admin=True)
    report = await api.get("/api/health/cache", admin)
    assert report["coherent"] is False and report["invalidation_feed"]["connected"] is False


async def test_service_works_without_prepared_statement_cache(make_api, settings):
    """DB_STATEMENT_CACHE_SIZE=0, as behind PgBouncer in transaction mode."""
    api = await make_api(settings.replace(db_statement_cache_size=0, cache_enabled=False))
    user = await api.user()
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 3)
    assert (await api.get("/api/posts", user))["metadata"]["total"] == 3
