"""ResponseCache without a database: single-flight, failures, the generation guard, the LRU
bound, the distrusted (feed down) mode and key separation. Sequenced with asyncio.Event only."""
from __future__ import annotations

import asyncio

import pytest

from service.cache.response_cache import EVERY_DETAIL, TIERS, ResponseCache
from service.context import RequestContext, current_request
from service.settings import Settings


def _cache(**changes) -> ResponseCache:
    return ResponseCache(Settings(database_url="postgresql://x/y", **changes))


class Loader:
    """A loader that counts its calls, can be held until released, and returns value#call."""

    def __init__(self, value: str = "value", *, held: bool = False, error: BaseException | None = None) -> None:
        self.value = value
        self.calls = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        if not held:
            self.release.set()
        self.error = error
        self.log: list[str] | None = None

    async def __call__(self):
        self.calls += 1
        call = self.calls
        self.started.set()
        await self.release.wait()
        if self.log is not None:
            self.log.append(f"{self.value} finished")
        if self.error is not None:
            raise self.error
        return f"{self.value}#{call}"


async def _get(cache: ResponseCache, loader, key: str = "k", namespace: str = "posts", tier: str = "short"):
    return await cache.get_or_load(tier, namespace, key, loader)


def _stats(cache: ResponseCache, tier: str = "short"):
    return cache.tiers[tier].stats


async def _concurrently(cache: ResponseCache, loader: Loader, n: int, key: str = "k") -> list[asyncio.Task]:
    """n requests for one key, started together; returns once the first has begun loading. The
    others were scheduled before that and have run to the point where they join (or load)."""
    tasks = [asyncio.create_task(_get(cache, loader, key)) for _ in range(n)]
    await loader.started.wait()
    return tasks


# Basics -----------------------------------------------------------------------------

async def test_a_miss_loads_and_stores_then_a_hit_does_not_load():
    cache, loader = _cache(), Loader()
    assert await _get(cache, loader) == "value#1"
    assert await _get(cache, loader) == "value#1"
    assert loader.calls == 1 and cache.loads == 1
    stats = _stats(cache)
    assert (stats.hits, stats.misses, stats.sets) == (1, 1, 1)


async def test_the_request_context_is_marked_miss_then_hit():
    cache, loader = _cache(), Loader()
    ctx = RequestContext("r1")
    token = current_request.set(ctx)
    try:
        await _get(cache, loader)
        assert ctx.cache == "miss"
        await _get(cache, loader)
        assert ctx.cache == "hit"
    finally:
        current_request.reset(token)


async def test_none_is_never_stored():
    cache = _cache()
    calls = 0

    async def nothing():
        nonlocal calls
        calls += 1
        return None

    assert await _get(cache, nothing) is None and await _get(cache, nothing) is None
    assert calls == 2 and _stats(cache).sets == 0


async def test_a_disabled_cache_always_loads_and_stores_nothing():
    cache, loader = _cache(cache_enabled=False), Loader()
    ctx = RequestContext("r1")
    token = current_request.set(ctx)
    try:
        assert [await _get(cache, loader) for _ in range(3)] == ["value#1", "value#2", "value#3"]
    finally:
        current_request.reset(token)
    assert ctx.cache == "bypass" and sum(_stats(cache, t).sets for t in TIERS) == 0


# Token lookups: switched by AUTH_CACHE_ENABLED, not CACHE_ENABLED -------------------

async def _token(cache: ResponseCache, loader):
    return await _get(cache, loader, key="token|t1", namespace="users", tier="long")


async def test_token_lookups_stay_cached_when_responses_are_not():
    cache = _cache(cache_enabled=False)
    tokens, responses = Loader("session"), Loader("page")
    assert [await _token(cache, tokens) for _ in range(3)] == ["session#1"] * 3
    assert [await _get(cache, responses) for _ in range(2)] == ["page#1", "page#2"]
    assert (_stats(cache, "long").sets, _stats(cache, "long").hits) == (1, 2)
    assert _stats(cache, "short").sets == 0
    assert cache.active is False                   # "active" speaks of responses
    report = cache.report()
    assert (report["enabled"], report["token_cache_enabled"]) == (False, True)
    assert [a["severity"] for a in report["recommendations"]] == ["info"]
    assert "token lookups are" in report["recommendations"][0]["message"]


async def test_token_lookups_are_dropped_by_a_users_invalidation_with_responses_off():
    cache = _cache(cache_enabled=False)
    loader = Loader("session")
    await _token(cache, loader)
    await cache.invalidate(["users"])               # what NOTIFY users / access_tokens means
    assert await _token(cache, loader) == "session#2"


async def test_token_lookups_are_not_cached_while_the_feed_is_down():
    cache = _cache(cache_enabled=False)
    await _token(cache, Loader("before"))
    await cache.distrust()
    loader = Loader()
    assert [await _token(cache, loader) for _ in range(2)] == ["value#1", "value#2"]
    assert cache.tiers["long"].size() == 0
    await cache.trust()
    assert [await _token(cache, loader) for _ in range(2)] == ["value#3", "value#3"]


async def test_auth_cache_disabled_looks_tokens_up_every_time_and_keeps_responses_cached():
    cache = _cache(auth_cache_enabled=False)
    tokens, responses = Loader("session"), Loader("page")
    assert [await _token(cache, tokens) for _ in range(2)] == ["session#1", "session#2"]
    assert [await _get(cache, responses) for _ in range(2)] == ["page#1", "page#1"]
    assert _stats(cache, "long").sets == 0


async def test_nothing_cached_when_both_are_disabled():
    cache = _cache(cache_enabled=False, auth_cache_enabled=False)
    loader = Loader()
    assert [await _token(cache, loader) for _ in range(2)] == ["value#1", "value#2"]
    assert sum(_stats(cache, t).sets for t in TIERS) == 0
    assert "AUTH_CACHE_ENABLED=false" in cache.report()["recommendations"][0]["message"]


# Single flight ----------------------------------------------------------------------

async def test_concurrent_misses_of_one_key_load_once():
    cache, loader = _cache(), Loader(held=True)
    tasks = await _concurrently(cache, loader, 20)
    loader.release.set()
    assert await asyncio.gather(*tasks) == ["value#1"] * 20
    assert loader.calls == 1 and cache.loads == 1
    assert _stats(cache).hits == 0, "every caller was answered by the one load, none by a later hit"
    assert cache._inflight == {}


async def test_concurrent_misses_of_different_keys_load_each():
    cache, loader = _cache(), Loader(held=True)
    tasks = [asyncio.create_task(_get(cache, loader, key)) for key in ("a", "b", "c")]
    await loader.started.wait()
    loader.release.set()
    assert sorted(await asyncio.gather(*tasks)) == ["value#1", "value#2", "value#3"]


async def test_a_failed_load_is_not_cached_and_every_waiter_gets_the_same_error():
    cache = _cache()
    error = RuntimeError("database went away")
    loader = Loader(held=True, error=error)
    tasks = await _concurrently(cache, loader, 5)
    loader.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(result is error for result in results), results
    assert loader.calls == 1 and _stats(cache).sets == 0 and cache._inflight == {}
    # The next request loads again, and this time succeeds and is stored.
    loader.error = None
    assert await _get(cache, loader) == "value#2"
    assert await _get(cache, loader) == "value#2"


async def test_waiters_of_a_cancelled_load_are_not_cancelled():
    cache, loader = _cache(), Loader(held=True)
    first = asyncio.create_task(_get(cache, loader))
    await loader.started.wait()
    joiner = asyncio.create_task(_get(cache, loader))
    first.cancel()
    loader.release.set()
    results = await asyncio.gather(first, joiner, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    # Whether the joiner loads again or the load is finished for it, it gets an answer.
    assert not joiner.cancelled() and results[1] in ("value#1", "value#2")


async def test_a_cancelled_load_leaves_nothing_in_flight_and_nothing_stored():
    cache, loader = _cache(), Loader(held=True)
    first = asyncio.create_task(_get(cache, loader))
    await loader.started.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert cache._inflight == {} and _stats(cache).sets == 0
    loader.release.set()
    assert await _get(cache, loader) == "value#2"


# The generation guard ---------------------------------------------------------------

async def test_a_load_that_straddles_an_invalidation_of_its_namespace_is_not_stored():
    cache, loader = _cache(), Loader(held=True)
    task = asyncio.create_task(_get(cache, loader))
    await loader.started.wait()                   # it has read the pre-write rows
    await cache.invalidate(["posts"])             # the write commits
    loader.release.set()
    assert await task == "value#1"                # its own caller still gets what it read...
    assert _stats(cache).sets == 0                # ...but nobody else will
    assert await _get(cache, loader) == "value#2"
    assert await _get(cache, loader) == "value#2"  # a fresh load is stored


async def test_invalidating_another_namespace_does_not_stop_the_store():
    cache, loader = _cache(), Loader(held=True)
    task = asyncio.create_task(_get(cache, loader, namespace="posts"))
    await loader.started.wait()
    await cache.invalidate(["clients", "runs"])
    loader.release.set()
    await task
    assert await _get(cache, loader) == "value#1" and loader.calls == 1


async def test_a_request_after_the_invalidation_does_not_join_the_earlier_load():
    cache = _cache()
    log: list[str] = []
    old, new = Loader("old", held=True), Loader("new")
    old.log = new.log = log
    before = asyncio.create_task(_get(cache, old))
    await old.started.wait()
    await cache.invalidate(["posts"])
    after = asyncio.create_task(_get(cache, new))   # runs before `before` resumes
    old.release.set()
    assert await after == "new#1"
    assert await before == "old#1"
    assert log == ["new finished", "old finished"], "the later request waited for the earlier load"
    assert await _get(cache, Loader("unused")) == "new#1"   # the fresh answer is the one stored


async def test_a_request_before_the_invalidation_does_join():
    cache, loader = _cache(), Loader(held=True)
    first = asyncio.create_task(_get(cache, loader))
    await loader.started.wait()
    second = asyncio.create_task(_get(cache, loader))
    await cache.invalidate(["clients"])          # another namespace: still the same generation
    loader.release.set()
    assert await asyncio.gather(first, second) == ["value#1", "value#1"] and loader.calls == 1


async def test_invalidate_drops_the_namespace_in_every_tier_and_nothing_else():
    cache = _cache()
    for tier in TIERS:
        for namespace in ("posts", "projects"):
            await _get(cache, Loader(f"{tier}-{namespace}"), namespace=namespace, tier=tier)
    await cache.invalidate(["posts"])
    for tier in TIERS:
        assert await _get(cache, Loader("reloaded"), namespace="posts", tier=tier) == "reloaded#1"
        assert await _get(cache, Loader("unused"), namespace="projects", tier=tier) == f"{tier}-projects#1"
        assert _stats(cache, tier).invalidations == 1


async def test_clear_also_stops_loads_in_flight_from_storing():
    cache, loader = _cache(), Loader(held=True)
    task = asyncio.create_task(_get(cache, loader))
    await loader.started.wait()
    await cache.clear()
    loader.release.set()
    await task
    assert _stats(cache).sets == 0


# The LRU bound ----------------------------------------------------------------------

async def test_the_oldest_entry_beyond_cache_max_size_is_evicted():
    cache = _cache(cache_max_size=2)
    for key in ("a", "b", "c"):
        await _get(cache, Loader(key), key)
    tier = cache.tiers["short"]
    assert tier.size() == 2 and tier.stats.evictions == 1
    assert await _get(cache, Loader("unused"), "b") == "b#1"
    assert await _get(cache, Loader("unused"), "c") == "c#1"
    assert await _get(cache, Loader("a again"), "a") == "a again#1"        # evicted: loaded again


async def test_a_read_makes_an_entry_recent():
    cache = _cache(cache_max_size=2)
    await _get(cache, Loader("a"), "a")
    await _get(cache, Loader("b"), "b")
    await _get(cache, Loader("unused"), "a")           # a is now the most recent
    await _get(cache, Loader("c"), "c")                # evicts b, the least recently used
    assert await _get(cache, Loader("unused"), "a") == "a#1"
    assert await _get(cache, Loader("b again"), "b") == "b again#1"


async def test_each_tier_has_its_own_bound():
    cache = _cache(cache_max_size=1)
    for tier in TIERS:
        await _get(cache, Loader(tier), tier=tier)
    for tier in TIERS:
        assert await _get(cache, Loader("unused"), tier=tier) == f"{tier}#1"
        assert cache.tiers[tier].size() == 1


async def test_an_evicted_entry_is_not_dropped_again_by_its_namespace():
    cache = _cache(cache_max_size=1)
    await _get(cache, Loader("a"), "a", namespace="posts")
    await _get(cache, Loader("b"), "b", namespace="runs")     # evicts posts|a
    await cache.invalidate(["posts"])
    assert await _get(cache, Loader("unused"), "b", namespace="runs") == "b#1"
    assert cache.tiers["short"].size() == 1


# Distrust: the invalidation feed is down ----------------------------------------------

async def test_a_distrusted_cache_empties_and_never_stores():
    cache = _cache()
    await _get(cache, Loader("before"))
    await cache.distrust()
    loader = Loader()
    assert [await _get(cache, loader) for _ in range(3)] == ["value#1", "value#2", "value#3"]
    assert sum(_stats(cache, t).sets for t in TIERS) == 1          # only the one from before
    assert all(cache.tiers[t].size() == 0 for t in TIERS)
    assert cache.active is False and cache.report()["coherent"] is False


async def test_a_load_in_flight_when_the_feed_drops_is_not_stored():
    cache, loader = _cache(), Loader(held=True)
    task = asyncio.create_task(_get(cache, loader))
    await loader.started.wait()
    await cache.distrust()
    loader.release.set()
    await task
    assert _stats(cache).sets == 0


async def test_a_load_in_flight_across_a_drop_and_a_reconnect_is_not_stored():
    cache, loader = _cache(), Loader(held=True)
    task = asyncio.create_task(_get(cache, loader))
    await loader.started.wait()
    await cache.distrust()
    await cache.trust()                 # back, but what changed meanwhile is unknown
    loader.release.set()
    await task
    assert _stats(cache).sets == 0


async def test_trust_starts_empty_and_caches_again():
    cache = _cache()
    await _get(cache, Loader("before"))
    await cache.distrust()
    await cache.trust()
    loader = Loader("after")
    assert await _get(cache, loader) == "after#1" and await _get(cache, loader) == "after#1"
    assert cache.active and cache.report()["coherent"] is True


# Keys -------------------------------------------------------------------------------

async def test_keys_of_different_scopes_and_namespaces_never_collide():
    cache = _cache()
    user_a, user_b = "9f1c0e4e-0000-4000-8000-00000000000a", "9f1c0e4e-0000-4000-8000-00000000000b"
    entries = [("posts", f"{user_a}|get|1"), ("posts", f"{user_b}|get|1"), ("posts", "admin|get|1"),
               ("projects", f"{user_a}|get|1"), ("users", "token|get|1")]
    for namespace, key in entries:
        assert await _get(cache, Loader(f"{namespace}:{key}"), key, namespace) == f"{namespace}:{key}#1"
    for namespace, key in entries:
        assert await _get(cache, Loader("unused"), key, namespace) == f"{namespace}:{key}#1"
    assert _stats(cache).sets == len(entries)


async def test_one_namespaces_key_never_answers_another_namespace():
    cache = _cache()
    await _get(cache, Loader("posts"), "x|y", "posts")
    assert await _get(cache, Loader("clients"), "x|y", "clients") == "clients#1"


async def test_the_same_key_in_two_tiers_is_two_entries():
    cache = _cache()
    await _get(cache, Loader("short"), tier="short")
    assert await _get(cache, Loader("long"), tier="long") == "long#1"


# Report -----------------------------------------------------------------------------

async def test_report_counts_what_happened():
    cache = _cache(cache_max_size=1)
    await _get(cache, Loader("a"), "a")
    await _get(cache, Loader("a"), "a")
    await _get(cache, Loader("b"), "b")
    report = cache.report("short")
    assert list(report["tiers"]) == ["short"]
    short = report["tiers"]["short"]
    assert (short["size"], short["maxsize"], short["hits"], short["misses"], short["sets"], short["evictions"]) == \
        (1, 1, 1, 2, 2, 1)
    assert short["hit_rate_percent"] == 33.33
    assert report["enabled"] is True and report["coherent"] is True
    cache.reset_stats()
    assert cache.report()["tiers"]["short"]["hits"] == 0 and cache.report()["tiers"]["short"]["size"] == 1


async def test_report_advises_on_a_disconnected_feed_and_on_evictions():
    cache = _cache(cache_max_size=1)
    assert cache.report()["recommendations"] == [{"severity": "info", "message": "Cache is healthy."}]
    for n in range(12):
        await _get(cache, Loader(str(n)), str(n))
    found = cache.report()["recommendations"]
    assert [(a["severity"], a.get("tier")) for a in found] == [("warning", "short")]
    assert "CACHE_MAX_SIZE" in found[0]["message"]
    await cache.distrust()
    assert cache.report()["recommendations"][0]["severity"] == "critical"


# Owner-scoped invalidation ---------------------------------------------------------

async def _scoped(cache: ResponseCache, scope: str, namespace: str = "posts", value: str = "v") -> str:
    return await cache.get_or_load("short", namespace, "list", Loader(f"{value}-{scope}"), scope=scope)


async def test_an_owners_write_drops_that_owner_and_the_admin_and_keeps_the_others():
    cache = _cache()
    for scope in ("alice", "bob", "admin"):
        await _scoped(cache, scope)
    await cache.invalidate(["posts"], owner="alice")
    loads = cache.loads
    assert await _scoped(cache, "bob", value="new") == "v-bob#1"          # still cached
    assert await _scoped(cache, "alice", value="new") == "new-alice#1"    # reloaded
    assert await _scoped(cache, "admin", value="new") == "new-admin#1"    # reloaded: sees every owner
    assert cache.loads == loads + 2


async def test_without_an_owner_or_in_an_unscoped_namespace_everything_goes():
    cache = _cache()
    for scope in ("alice", "bob"):
        await _scoped(cache, scope)
        await _scoped(cache, scope, namespace="users")
    await cache.invalidate(["users"], owner="alice")                    # users entries are keyed by token
    assert await _scoped(cache, "bob", namespace="users", value="new") == "new-bob#1"
    await cache.invalidate(["posts"])
    assert await _scoped(cache, "bob", value="new") == "new-bob#1"


@pytest.mark.parametrize(("loading_scope", "stored"), [("bob", True), ("alice", False), ("admin", False)])
async def test_a_load_straddling_an_owners_write_is_stored_only_when_the_write_cannot_touch_it(loading_scope, stored):
    cache = _cache()
    loader = Loader(held=True)
    task = asyncio.create_task(cache.get_or_load("short", "posts", "list", loader, scope=loading_scope))
    await loader.started.wait()
    await cache.invalidate(["posts"], owner="alice")
    loader.release.set()
    await task
    assert (_stats(cache).sets == 1) is stored


async def test_a_load_from_before_a_forgotten_stamp_is_not_stored(monkeypatch):
    from service.cache import response_cache
    monkeypatch.setattr(response_cache, "MAX_REMEMBERED_STAMPS", 2)
    cache = _cache()
    loader = Loader(held=True)
    task = asyncio.create_task(cache.get_or_load("short", "posts", "list", loader, scope="zed"))
    await loader.started.wait()
    await cache.invalidate(["posts"], owner="zed")          # zed's stamp ...
    for owner in ("a", "b", "c"):                             # ... pushed out of the bounded memory
        await cache.invalidate(["posts"], owner=owner)
    loader.release.set()
    await task
    assert _stats(cache).sets == 0


# Row-scoped invalidation ------------------------------------------------------------

async def _detail(cache: ResponseCache, scope: str, item: str, value: str = "v", namespace: str = "posts") -> str:
    return await cache.get_or_load("short", namespace, f"get|{item}", Loader(f"{value}-{scope}-{item}"),
                                   scope=scope, item=item)


async def _everything(cache: ResponseCache, value: str = "v") -> dict[str, str]:
    """Lists and details of posts 1 and 2 for alice, bob and the admin; projects lists."""
    found = {}
    for scope in ("alice", "bob", "admin"):
        found[f"{scope} list"] = await _scoped(cache, scope, value=value)
        found[f"{scope} projects"] = await _scoped(cache, scope, namespace="projects", value=value)
        for item in ("1", "2"):
            found[f"{scope} {item}"] = await _detail(cache, scope, item, value=value)
    return found


def _reloaded(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


async def test_a_write_to_one_row_drops_the_owners_lists_and_that_rows_details_only():
    cache = _cache()
    before = await _everything(cache)
    await cache.invalidate(["posts", "projects"], owner="alice", rows={"posts": frozenset({"1"})})
    after = await _everything(cache, value="new")
    # projects: not narrowed by rows (a post's project carries post counts): the owner's whole scope
    assert _reloaded(before, after) == {"alice list", "alice 1", "admin list", "admin 1",
                                        "alice projects", "admin projects"}


async def test_every_detail_drops_the_owners_details_and_keeps_the_lists():
    """A post write in the projects namespace: the owner's and admin's project details
    (post counts) go, their projects lists and every other owner's answers stay."""
    cache = _cache()
    found = {}
    for scope in ("alice", "bob", "admin"):
        found[f"{scope} list"] = await _scoped(cache, scope, namespace="projects")
        for item in ("1", "2"):
            found[f"{scope} {item}"] = await _detail(cache, scope, item, namespace="projects")
    await cache.invalidate(["projects"], owner="alice", rows={"projects": EVERY_DETAIL})
    after = {}
    for scope in ("alice", "bob", "admin"):
        after[f"{scope} list"] = await _scoped(cache, scope, namespace="projects", value="new")
        for item in ("1", "2"):
            after[f"{scope} {item}"] = await _detail(cache, scope, item, value="new", namespace="projects")
    assert _reloaded(found, after) == {"alice 1", "alice 2", "admin 1", "admin 2"}


@pytest.mark.parametrize(("item", "stored"), [("1", False), ("", True)])
async def test_a_load_straddling_an_every_detail_write_is_stored_only_if_a_list(item, stored):
    cache = _cache()
    loader = Loader(held=True)
    task = asyncio.create_task(cache.get_or_load("medium", "projects", f"get|{item}", loader, scope="alice",
                                                 item=item))
    await loader.started.wait()
    await cache.invalidate(["projects"], owner="alice", rows={"projects": EVERY_DETAIL})
    loader.release.set()
    await task
    assert (_stats(cache, "medium").sets == 1) is stored


async def test_new_rows_drop_the_owners_lists_and_no_detail():
    cache = _cache()
    before = await _everything(cache)
    await cache.invalidate(["posts"], owner="alice", rows={"posts": frozenset()})
    assert _reloaded(before, await _everything(cache, value="new")) == {"alice list", "admin list"}


async def test_without_rows_an_owners_write_drops_every_answer_of_the_owner():
    cache = _cache()
    before = await _everything(cache)
    await cache.invalidate(["posts"], owner="alice")
    assert _reloaded(before, await _everything(cache, value="new")) == {
        "alice list", "alice 1", "alice 2", "admin list", "admin 1", "admin 2"}


@pytest.mark.parametrize(("item", "rows", "stored"), [
    ("1", {"posts": frozenset({"1"})}, False),     # its own row changed
    ("2", {"posts": frozenset({"1"})}, True),      # another row
    ("2", {"posts": frozenset()}, True),           # new rows only
    ("2", {}, False),                              # any row of the owner
    ("", {"posts": frozenset({"1"})}, False),      # a list: any change of the owner's rows
])
async def test_a_detail_load_straddling_a_write_is_stored_only_when_the_write_cannot_touch_it(item, rows, stored):
    cache = _cache()
    loader = Loader(held=True)
    task = asyncio.create_task(cache.get_or_load("short", "posts", f"get|{item}", loader, scope="alice", item=item))
    await loader.started.wait()
    await cache.invalidate(["posts"], owner="alice", rows=rows)
    loader.release.set()
    await task
    assert (_stats(cache).sets == 1) is stored


async def test_dropping_a_namespace_reaches_every_item_of_every_scope():
    cache = _cache()
    before = await _everything(cache)
    await cache.invalidate(["posts"])
    assert _reloaded(before, await _everything(cache, value="new")) == {
        f"{scope} {what}" for scope in ("alice", "bob", "admin") for what in ("list", "1", "2")}


# Byte budget ------------------------------------------------------------------------

class Body:
    """A cached value that says its size, as CachedBody does."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes


async def _put(cache: ResponseCache, key: str, nbytes: int, tier: str = "short", namespace: str = "posts",
               scope: str = "u"):
    async def load():
        return Body(nbytes)
    return await cache.get_or_load(tier, namespace, key, load, scope=scope)


def _held(cache: ResponseCache, key: str, scope: str = "u", tier: str = "short", namespace: str = "posts") -> bool:
    return f"{namespace}|{scope}|{key}" in cache.tiers[tier]._entries


async def test_no_sequence_of_stores_holds_more_than_the_byte_budget():
    cache = _cache(cache_max_bytes=100_000, cache_max_size=10_000)
    for n in range(200):
        await _put(cache, f"k{n}", 5_000 + n * 37, tier=TIERS[n % 3])
        assert cache.budget.used <= cache.budget.limit
    report = cache.report()
    assert report["bytes"] == sum(t["bytes"] for t in report["tiers"].values()) <= report["max_bytes"] == 100_000
    assert sum(t["evictions"] for t in report["tiers"].values()) > 0


async def test_the_oldest_entries_go_first_when_the_budget_is_full():
    cache = _cache(cache_max_bytes=100_000, cache_max_size=10_000)
    for n in range(10):
        await _put(cache, f"k{n}", 9_000)
    await _put(cache, "k0", 1)                         # a hit: k0 becomes the most recent
    await _put(cache, "new", 9_000)                     # pushes out the least recent: k1
    assert isinstance(await cache.tiers["short"].get("posts|u|k0"), Body)
    assert await cache.tiers["short"].get("posts|u|k1") is None


async def test_a_value_too_large_for_a_quarter_of_the_budget_is_answered_not_stored():
    cache = _cache(cache_max_bytes=100_000)
    assert (await _put(cache, "huge", 30_000)).nbytes == 30_000
    assert _stats(cache).sets == 0 and cache.budget.used == 0


async def test_drops_and_clears_give_their_bytes_back():
    cache = _cache(cache_max_bytes=1_000_000)
    await _put(cache, "a", 10_000)
    await _put(cache, "b", 10_000, namespace="clients")
    await cache.invalidate(["posts"], owner="u")
    assert cache.budget.used == cache.tiers["short"].bytes > 10_000
    await cache.clear()
    assert cache.budget.used == 0 and all(t.bytes == 0 for t in cache.tiers.values())


# Shares: one scope's many entries do not flush the others' --------------------------------

async def test_a_greedy_scope_over_its_share_of_entries_evicts_its_own_oldest_first():
    cache = _cache(cache_max_size=20)
    for n in range(5):
        await cache.get_or_load("short", "posts", f"b{n}", Loader(f"b{n}"), scope="other")
    for n in range(100):                               # 100 distinct answers of one user
        await cache.get_or_load("short", "posts", f"a{n}", Loader(f"a{n}"), scope="greedy")
    tier = cache.tiers["short"]
    assert all(_held(cache, f"b{n}", "other") for n in range(5)), "another user's answers were flushed"
    assert tier.size() == 20 and len(tier._scope_keys["greedy"]) == 15
    assert _held(cache, "a99", "greedy") and not _held(cache, "a0", "greedy")


async def test_a_scope_alone_may_fill_the_cache():
    cache = _cache(cache_max_size=20)
    for n in range(30):
        await cache.get_or_load("short", "posts", f"a{n}", Loader(f"a{n}"), scope="only")
    assert cache.tiers["short"].size() == 20


async def test_within_their_shares_scopes_share_plain_lru():
    cache = _cache(cache_max_size=8)                   # a share is 2 entries
    for n in range(4):
        for scope in ("x", "y", "z", "w"):
            await cache.get_or_load("short", "posts", f"{scope}{n}", Loader(f"{scope}{n}"), scope=scope)
    tier = cache.tiers["short"]
    assert tier.size() == 8 and all(len(keys) == 2 for keys in tier._scope_keys.values())


async def test_a_greedy_scope_over_its_share_of_bytes_evicts_its_own_oldest_first():
    cache = _cache(cache_max_bytes=100_000, cache_max_size=10_000)
    for n in range(4):
        await _put(cache, f"b{n}", 10_000, scope="other")
    for n in range(40):
        await _put(cache, f"a{n}", 9_000, scope="greedy")
        assert cache.budget.used <= cache.budget.limit
    assert all(_held(cache, f"b{n}", "other") for n in range(4))
    assert cache.tiers["short"]._scope_bytes["greedy"] <= 100_000 - 40_000
    assert _held(cache, "a39", "greedy")


async def test_shares_give_their_counts_back_on_drops_and_clears():
    cache = _cache(cache_max_bytes=1_000_000)
    await _put(cache, "a", 10_000, scope="u")
    await _put(cache, "b", 10_000, scope="v")
    await cache.invalidate(["posts"], owner="u")
    tier = cache.tiers["short"]
    assert "u" not in tier._scope_keys and "u" not in tier._scope_bytes
    assert tier._scope_bytes["v"] == tier.bytes
    await cache.clear()
    assert not tier._scope_keys and not tier._scope_bytes
