"""One user's many distinct reads against everyone else's cached answers, on a real
PostgreSQL: under pressure the cache evicts the scope holding more than its share first
(service/cache/response_cache.py SCOPE_SHARE), so a greedy user costs others no hits."""
from __future__ import annotations

from service import keys


async def test_another_users_cached_list_survives_one_users_hundreds_of_distinct_reads(api):
    cache = api.client.app[keys.CACHE]
    maxsize = cache.tiers["short"].maxsize
    greedy, other = await api.user(), await api.user()
    first, _ = await api.call("GET", "/api/posts?page_size=7", other, expect=200)
    assert 'cache;desc="miss"' in first.headers["Server-Timing"]
    for size in range(1, 101):                   # distinct lists: more than any tier holds
        for status in ("flagged", "approved"):
            await api.call("GET", f"/api/posts?page_size={size}&status={status}", greedy, expect=200)
    again, _ = await api.call("GET", "/api/posts?page_size=7", other, expect=200)
    assert 'cache;desc="hit"' in again.headers["Server-Timing"], "another user's answer was flushed"
    assert sum(tier.size() for tier in cache.tiers.values()) <= 3 * maxsize
    # The greedy user's own latest answers are still cached.
    last, _ = await api.call("GET", "/api/posts?page_size=100&status=approved", greedy, expect=200)
    assert 'cache;desc="hit"' in last.headers["Server-Timing"]
