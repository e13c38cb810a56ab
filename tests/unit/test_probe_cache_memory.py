"""Probes of the response cache's bounds: what it counts against
CACHE_MAX_BYTES must be what its entries really hold."""
from __future__ import annotations

import asyncio
import gc
import tracemalloc

import uvloop

from service.api.common import CachedBody
from service.cache.response_cache import ResponseCache
from service.http.responses import etag_for
from service.settings import Settings

SCOPE = "7b0e5b9c-3c7b-4a4f-9d8e-6d2f4c3b2a10"


def _held_and_counted(entries: int, tier: str, store) -> tuple[int, int]:
    """Fill a fresh cache with `entries` answers, `await store(cache, n)` each (in `tier`), on
    uvloop (the default EVENT_LOOP); the bytes they hold in the process (tracemalloc) and
    the bytes the cache counts against CACHE_MAX_BYTES."""
    async def fill() -> tuple[int, int]:
        cache = ResponseCache(Settings(database_url="postgresql://x/y", cache_max_size=10 * entries,
                                       cache_max_bytes=1 << 40))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for n in range(entries):
                await store(cache, n)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert cache.tiers[tier].size() == entries
        return held, cache.budget.used
    return uvloop.run(fill())


def test_many_small_answers_hold_no_more_memory_than_the_cache_counts():
    """The byte budget counted ~530 bytes for a small cached answer (an empty list of one
    user) that holds ~1,470 in the process under uvloop (the default EVENT_LOOP): the key
    in five maps, aiocache's TTL timer, our recency and partition entries. So 64 MiB of
    CACHE_MAX_BYTES let ~180 MiB of small answers in (with CACHE_MAX_SIZE raised to allow
    that many entries), and /api/health/cache reported 64."""
    entries = 5_000

    async def store(cache: ResponseCache, n: int) -> None:
        body = b'{"items":[],"metadata":{"total":0,"n":%d}}' % n

        async def load() -> CachedBody:
            return CachedBody(body, etag_for(body))
        await cache.get_or_load("short", "posts", f"list|search=word{n:08d}", load, scope=SCOPE)

    held, counted = _held_and_counted(entries, "short", store)
    assert held <= counted * 1.1, (f"{entries} small answers hold {held / entries:.0f} bytes each, "
                                   f"the cache counts {counted / entries:.0f}")


async def test_an_entry_stored_after_a_clear_lives_its_own_ttl():
    """clear() (the feed's reconnect, POST /api/health/cache/clear) emptied aiocache's map
    without cancelling its TTL timers: each timer of a cleared entry stayed scheduled for
    up to the tier's TTL (an hour in the long tier), holding its key, and when it fired
    it deleted whatever entry had that key by then: the same answer stored again after
    the clear, long before its own TTL."""
    cache = ResponseCache(Settings(database_url="postgresql://x/y", cache_short_ttl=1))
    loop = asyncio.get_running_loop()
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        return f"answer {loads}"

    start = loop.time()
    await cache.get_or_load("short", "posts", "k", load)        # expires at start + 1
    await asyncio.sleep(0.5)
    await cache.clear()
    assert await cache.get_or_load("short", "posts", "k", load) == "answer 2"    # expires at ~start + 1.5
    await asyncio.sleep(max(0.0, start + 1.2 - loop.time()))    # past the first entry's TTL, not the second's
    assert await cache.get_or_load("short", "posts", "k", load) == "answer 2", "expired by the cleared entry's timer"


def test_cached_token_lookups_hold_no_more_memory_than_the_cache_counts():
    """A token lookup (the long tier) counted 256 bytes whatever it held: a user with a
    long email and a full name of 200 non-ASCII characters (both allowed) holds ~1,500."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from service.auth.guards import _Session
    from service.auth.user import User

    entries = 2_000

    async def store(cache: ResponseCache, n: int) -> None:
        async def load() -> _Session:
            email = f"{n:08d}{'x' * 232}@example.com"
            return _Session(User(uuid4(), email, "\N{GRINNING FACE}" * 199 + str(n % 10), False,
                                 datetime.now(UTC)), 2e9)
        await cache.get_or_load("long", "users", f"token|{n:043d}", load)

    held, counted = _held_and_counted(entries, "long", store)
    assert held <= counted * 1.1, (f"{entries} token lookups hold {held / entries:.0f} bytes each, "
                                   f"the cache counts {counted / entries:.0f}")
