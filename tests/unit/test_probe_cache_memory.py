"""Probes of the response cache's bounds (helper probe-cache): what it counts against
CACHE_MAX_BYTES must be what its entries really hold."""
from __future__ import annotations

import gc
import tracemalloc

import uvloop

from service.api.common import CachedBody
from service.cache.response_cache import ResponseCache
from service.http.responses import etag_for
from service.settings import Settings

SCOPE = "7b0e5b9c-3c7b-4a4f-9d8e-6d2f4c3b2a10"


def test_many_small_answers_hold_no_more_memory_than_the_cache_counts():
    """The byte budget counted ~530 bytes for a small cached answer (an empty list of one
    user) that holds ~1,470 in the process under uvloop (the default EVENT_LOOP): the key
    in five maps, aiocache's TTL timer, our recency and partition entries. So 64 MiB of
    CACHE_MAX_BYTES let ~180 MiB of small answers in (with CACHE_MAX_SIZE raised to allow
    that many entries), and /api/health/cache reported 64."""
    entries = 5_000

    async def fill() -> tuple[int, int]:
        cache = ResponseCache(Settings(database_url="postgresql://x/y", cache_max_size=10 * entries,
                                       cache_max_bytes=1 << 40))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for n in range(entries):
                body = b'{"items":[],"metadata":{"total":0,"n":%d}}' % n

                async def load(body=body) -> CachedBody:
                    return CachedBody(body, etag_for(body))
                await cache.get_or_load("short", "posts", f"list|search=word{n:08d}", load, scope=SCOPE)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert cache.tiers["short"].size() == entries
        return held, cache.budget.used

    held, counted = uvloop.run(fill())
    assert held <= counted * 1.1, (f"{entries} small answers hold {held / entries:.0f} bytes each, "
                                   f"the cache counts {counted / entries:.0f}")
