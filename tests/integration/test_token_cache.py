"""Token lookups cached with the response cache off (CACHE_ENABLED=false, AUTH_CACHE_ENABLED
on by default), on a real PostgreSQL: no token query on a repeated request, and logout,
expiry, a deleted user or a changed admin flag honoured at once on every instance;
with the invalidation feed down, every request asks the database.

"At once" on another instance means: as soon as its feed has received the NOTIFY that
PostgreSQL sends at the writer's commit. The checks below wait for exactly that (a
marker notification sent after the change, see feedutil.settle_feed, which itself drops
nothing) and then expect the very next request to be refused: no polling on the outcome,
no TTL."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
import time

from feedutil import settle_feed

from service import keys

TOKEN_QUERY = "users/by_token"


def _statements(api) -> list[str]:
    """Names of the SQL files this instance runs from now on (every execution passes the
    database layer's observers: service/db/database.py)."""
    seen: list[str] = []
    api.client.app[keys.DB].observers.append(lambda query, _ms, _rows: seen.append(query.name))
    return seen


def _uncached(settings, **changes):
    return settings.replace(cache_enabled=False, **changes)


async def test_a_second_request_with_the_same_token_makes_no_token_query(make_api, settings):
    api = await make_api(_uncached(settings))
    user = await api.user()
    await settle_feed(api)              # the start-up's token clean-up notifies: heard before we count
    seen = _statements(api)

    first, _ = await api.call("GET", "/api/posts", user, expect=200)
    assert seen.count(TOKEN_QUERY) == 1
    del seen[:]
    second, _ = await api.call("GET", "/api/posts", user, expect=200)
    assert TOKEN_QUERY not in seen and seen, seen                      # the page's own queries only
    assert 'cache;desc="bypass"' in second.headers["Server-Timing"]     # the response is not cached
    assert f'desc="{len(seen)} queries"' in second.headers["Server-Timing"]
    report = api.client.app[keys.CACHE].report()
    assert (report["enabled"], report["token_cache_enabled"], report["coherent"]) == (False, True, True)
    assert report["tiers"]["long"]["hits"] >= 1 and report["tiers"]["short"]["sets"] == 0


async def test_logout_on_one_instance_is_refused_on_another_at_once(make_api, settings):
    a, b = await make_api(_uncached(settings)), await make_api(_uncached(settings))
    user = await a.user()
    await settle_feed(a)
    await settle_feed(b)
    await b.get("/api/auth/me", user)
    seen = _statements(b)
    await b.get("/api/auth/me", user)
    assert TOKEN_QUERY not in seen                                       # b holds the token

    await a.call("POST", "/api/auth/logout", user, expect=204)
    await a.call("GET", "/api/auth/me", user, expect=401)               # a: dropped before the 204
    await settle_feed(b)                                                 # b has received the NOTIFY
    await b.call("GET", "/api/auth/me", user, expect=401)


async def test_a_deleted_user_and_a_changed_admin_flag_apply_at_once_on_every_instance(make_api, settings, db_conn):
    a, b = await make_api(_uncached(settings)), await make_api(_uncached(settings))
    user = await a.user()
    await settle_feed(a)
    await settle_feed(b)
    for instance in (a, b):
        await instance.call("GET", "/api/health/cache", user, expect=403)
        await instance.call("GET", "/api/health/cache", user, expect=403)     # from the cached token

    await db_conn.execute("UPDATE users SET is_admin = true WHERE id = $1::uuid", user.id)
    for instance in (a, b):
        await settle_feed(instance)
        await instance.call("GET", "/api/health/cache", user, expect=200)

    await db_conn.execute("UPDATE users SET is_admin = false WHERE id = $1::uuid", user.id)
    for instance in (a, b):
        await settle_feed(instance)
        await instance.call("GET", "/api/health/cache", user, expect=403)

    await db_conn.execute("DELETE FROM users WHERE id = $1::uuid", user.id)
    for instance in (a, b):
        await settle_feed(instance)
        await instance.call("GET", "/api/auth/me", user, expect=401)


async def test_a_cached_token_stops_at_its_expiry(make_api, settings, db_conn):
    """A token row inserted with a short life (an INSERT notifies nothing: new tokens change no
    cached entry): cached after its first use, refused once its expiry has passed."""
    api = await make_api(_uncached(settings))
    user = await api.user()
    token = secrets.token_urlsafe(32)
    lifetime_s = 8
    expires_at = await db_conn.fetchval(
        "INSERT INTO access_tokens (token_hash, user_id, expires_at) "
        "VALUES ($1, $2::uuid, now() + make_interval(secs => $3)) RETURNING expires_at",
        hashlib.sha256(token.encode()).digest(), user.id, lifetime_s)
    headers = {"Authorization": f"Bearer {token}"}
    await settle_feed(api)
    seen = _statements(api)
    await api.call("GET", "/api/auth/me", headers=headers, expect=200)
    await api.call("GET", "/api/auth/me", headers=headers, expect=200)
    if time.time() < expires_at.timestamp():           # else the machine was too slow to tell
        assert seen.count(TOKEN_QUERY) == 1             # the second answer came from the cached token

    while time.time() <= expires_at.timestamp():
        await asyncio.sleep(0.2)
    await api.call("GET", "/api/auth/me", headers=headers, expect=401)


async def test_with_the_feed_down_every_request_asks_the_database(make_api, settings):
    api = await make_api(_uncached(settings, database_listen_url="postgresql://postgres@127.0.0.1:9/nowhere"))
    user = await api.user()
    seen = _statements(api)
    for _ in range(3):
        await api.call("GET", "/api/auth/me", user, expect=200)
    assert seen.count(TOKEN_QUERY) == 3
    cache = api.client.app[keys.CACHE]
    assert cache.report()["coherent"] is False and cache.tiers["long"].size() == 0


async def test_a_lost_feed_empties_the_token_cache_and_it_caches_again_once_back(make_api, settings, db_conn):
    from checks import eventually

    api = await make_api(_uncached(settings))
    feed = api.client.app[keys.CACHE_FEED]
    user = await api.user()
    await settle_feed(api)
    await api.get("/api/auth/me", user)
    assert api.client.app[keys.CACHE].tiers["long"].size() == 1
    reconnects, pid = feed.reconnects, feed.backend_pid
    assert await db_conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    await eventually(lambda: feed.reconnects != reconnects and feed.connected.is_set(),
                     "the invalidation listener reconnects")
    seen = _statements(api)
    await api.get("/api/auth/me", user)
    assert seen.count(TOKEN_QUERY) == 1                 # dropped while the feed was down
    await api.get("/api/auth/me", user)
    assert seen.count(TOKEN_QUERY) == 1                 # and cached again


async def test_auth_cache_disabled_asks_the_database_every_time_and_runs_no_feed(make_api, settings):
    api = await make_api(_uncached(settings, auth_cache_enabled=False))
    user = await api.user()
    seen = _statements(api)
    for _ in range(2):
        await api.call("GET", "/api/auth/me", user, expect=200)
    assert seen.count(TOKEN_QUERY) == 2
    assert not api.client.app[keys.CACHE_FEED].connected.is_set()      # nothing cached: no LISTEN


async def test_auth_cache_disabled_keeps_responses_cached(make_api, settings):
    api = await make_api(settings.replace(auth_cache_enabled=False))
    user = await api.user()
    await settle_feed(api)
    await api.call("GET", "/api/posts", user, expect=200)
    seen = _statements(api)
    resp, _ = await api.call("GET", "/api/posts", user, expect=200)
    assert seen == [TOKEN_QUERY]                                         # the token, never the page
    assert 'cache;desc="hit"' in resp.headers["Server-Timing"]


async def test_a_route_without_a_cached_answer_reports_no_cache_outcome(make_api, settings):
    """Server-Timing's cache field said "hit" on routes that have no cached answer (job
    lists, writes, /api/auth/me): it reported the token lookup on the way. It now reports
    the answer's own lookup, and only where there is one."""
    api = await make_api(settings)
    user = await api.user()
    await api.call("GET", "/api/auth/me", user, expect=200)          # the token lookup is cached now
    for method, path, body, status in (("GET", "/api/auth/me", None, 200), ("GET", "/api/jobs", None, 200),
                                       ("POST", "/api/clients", {"name": "timed"}, 201)):
        resp, _ = await api.call(method, path, user, json=body, expect=status)
        assert "cache;" not in resp.headers["Server-Timing"], (path, resp.headers["Server-Timing"])
    first, _ = await api.call("GET", "/api/clients", user, expect=200)
    second, _ = await api.call("GET", "/api/clients", user, expect=200)
    assert 'cache;desc="miss"' in first.headers["Server-Timing"]
    assert 'cache;desc="hit"' in second.headers["Server-Timing"]
