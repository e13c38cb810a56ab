"""The response cache: three aiocache memory tiers, bounded, single-flight, invalidated by namespace.

What is cached is finished responses (body bytes + ETag) and token lookups, under
keys that carry the resource namespace, the caller's visibility scope and every
request parameter, so one user's rows can never answer another user's request.

Correctness rules, in order of importance:
- Invalidation drops a namespace's entries and bumps its generation. A load that
  began before the bump is not stored (it may hold pre-write rows), and a request
  arriving after the bump never joins a load that began before it.
- A failed load is not cached; its waiters get the same error.
- While the cross-instance invalidation feed (LISTEN) is down, the cache is
  emptied and bypassed: it cannot know what other instances changed.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiocache import SimpleMemoryCache

from service.context import current_request
from service.observability.advice import Advice, advice
from service.settings import Settings

TIERS = ("short", "medium", "long")
NAMESPACES = ("clients", "projects", "runs", "posts", "users")


@dataclass
class TierStats:
    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    invalidations: int = 0

    def reset(self) -> None:
        self.hits = self.misses = self.sets = self.evictions = self.invalidations = 0


class CacheTier:
    """One aiocache memory backend with our LRU bound (aiocache has none) and statistics."""

    def __init__(self, name: str, ttl: int, maxsize: int) -> None:
        self.name = name
        self.ttl = ttl
        self.maxsize = maxsize
        # timeout=None: aiocache would otherwise wrap every call in asyncio.wait_for.
        self.backend = SimpleMemoryCache(timeout=None)
        # key -> (namespace, expiry on the monotonic clock), in recency order.
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._by_namespace: dict[str, set[str]] = {}
        self.stats = TierStats()

    async def get(self, key: str) -> Any:
        # The backend's own read. aiocache's public get() wraps each call in four
        # layers (an AIOCACHE_DISABLE environment lookup, timeout, plugins, key
        # building) that this cache does not use; on the hit path they cost about as
        # much as the rest of the lookup. Writes and deletes use the public API.
        value = await self.backend._get(key)
        if value is None:
            self.stats.misses += 1
            self._forget(key)          # expired by aiocache's TTL timer, if it was here
            return None
        self.stats.hits += 1
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: Any, namespace: str, ttl: float | None = None) -> None:
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        if ttl <= 0:
            return
        await self.backend.set(key, value, ttl=ttl)
        self.stats.sets += 1
        self._forget(key)
        self._entries[key] = (namespace, time.monotonic() + ttl)
        self._by_namespace.setdefault(namespace, set()).add(key)
        while len(self._entries) > self.maxsize:
            oldest, (oldest_namespace, _) = self._entries.popitem(last=False)
            self._by_namespace.get(oldest_namespace, set()).discard(oldest)
            await self.backend.delete(oldest)
            self.stats.evictions += 1

    def _forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._by_namespace.get(entry[0], set()).discard(key)

    async def drop_namespace(self, namespace: str) -> int:
        keys = self._by_namespace.pop(namespace, set())
        for key in keys:
            self._entries.pop(key, None)
            await self.backend.delete(key)
        return len(keys)

    async def clear(self) -> int:
        count = len(self._entries)
        await self.backend.clear()
        self._entries.clear()
        self._by_namespace.clear()
        return count

    def size(self) -> int:
        now = time.monotonic()
        expired = [key for key, (_, expires) in self._entries.items() if expires <= now]
        for key in expired:
            self._forget(key)
        return len(self._entries)

    def report(self) -> dict:
        lookups = self.stats.hits + self.stats.misses
        return {
            "size": self.size(), "maxsize": self.maxsize, "ttl_seconds": self.ttl,
            "hits": self.stats.hits, "misses": self.stats.misses, "sets": self.stats.sets,
            "evictions": self.stats.evictions, "invalidations": self.stats.invalidations,
            "hit_rate_percent": round(100.0 * self.stats.hits / lookups, 2) if lookups else 0.0,
        }


class _LoadAbandoned(Exception):
    """The request leading a shared load was cancelled before it finished."""


class ResponseCache:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.cache_enabled
        self.tiers = {
            "short": CacheTier("short", settings.cache_short_ttl, settings.cache_max_size),
            "medium": CacheTier("medium", settings.cache_medium_ttl, settings.cache_max_size),
            "long": CacheTier("long", settings.cache_long_ttl, settings.cache_max_size),
        }
        self._generation: dict[str, int] = {ns: 0 for ns in NAMESPACES}
        self._inflight: dict[tuple[str, int], asyncio.Future] = {}
        # False while the invalidation feed is down: then nothing is read or stored.
        self.trusted = True
        self.loads = 0          # loader executions (single-flight evidence)

    @property
    def active(self) -> bool:
        return self.enabled and self.trusted

    async def get_or_load(self, tier: str, namespace: str, key: str,
                          loader: Callable[[], Awaitable[Any]], ttl: float | None = None) -> Any:
        """The cached value for key, or loader()'s result (stored unless a write intervened)."""
        ctx = current_request.get()
        if not self.active:
            if ctx is not None:
                ctx.cache = "bypass"
            return await loader()
        store = self.tiers[tier]
        full_key = f"{namespace}|{key}"
        value = await store.get(full_key)
        if value is not None:
            if ctx is not None:
                ctx.cache = "hit"
            return value
        if ctx is not None:
            ctx.cache = "miss"
        generation = self._generation[namespace]
        flight_key = (full_key, generation)
        pending = self._inflight.get(flight_key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except _LoadAbandoned:       # the leader's request went away: load for ourselves
                return await self.get_or_load(tier, namespace, key, loader, ttl)
        future = asyncio.get_running_loop().create_future()
        self._inflight[flight_key] = future
        try:
            self.loads += 1
            value = await loader()
        except asyncio.CancelledError:
            # Our request was cancelled; the joiners were not and must not be.
            future.set_exception(_LoadAbandoned())
            future.exception()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()   # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        else:
            future.set_result(value)
        finally:
            self._inflight.pop(flight_key, None)
        # Stored only if no write to this namespace happened while loading.
        if value is not None and self.active and self._generation[namespace] == generation:
            await store.set(full_key, value, namespace, ttl)
        return value

    async def invalidate(self, namespaces: Iterable[str]) -> None:
        """Drop every entry of these namespaces in every tier; loads in flight will not be stored."""
        for namespace in set(namespaces):
            self._generation[namespace] = self._generation.get(namespace, 0) + 1
            for store in self.tiers.values():
                await store.drop_namespace(namespace)
                store.stats.invalidations += 1

    async def clear(self, tier: str | None = None, namespace: str | None = None) -> None:
        tiers = [self.tiers[tier]] if tier else list(self.tiers.values())
        if namespace is not None:
            self._generation[namespace] = self._generation.get(namespace, 0) + 1
            for store in tiers:
                await store.drop_namespace(namespace)
        else:
            for ns in self._generation:
                self._generation[ns] += 1
            for store in tiers:
                await store.clear()

    async def distrust(self) -> None:
        """The invalidation feed is down: empty everything and stop caching until it is back."""
        self.trusted = False
        await self.clear()

    async def trust(self) -> None:
        """The feed is back: what changed meanwhile is unknown, so start empty."""
        await self.clear()
        self.trusted = True

    def reset_stats(self) -> None:
        for store in self.tiers.values():
            store.stats.reset()

    def report(self, tier: str | None = None) -> dict:
        names = [tier] if tier else list(TIERS)
        tiers = {name: self.tiers[name].report() for name in names}
        return {"enabled": self.enabled, "coherent": self.trusted, "tiers": tiers,
                "recommendations": recommendations(tiers, self.enabled, self.trusted)}


def recommendations(tiers: dict[str, dict], enabled: bool, trusted: bool) -> list[Advice]:
    found: list[Advice] = []
    if not enabled:
        return [advice("info", "The cache is disabled (CACHE_ENABLED=false).")]
    if not trusted:
        found.append(advice("critical", "The invalidation listener is disconnected: the cache is bypassed until it "
                                        "reconnects."))
    for name, t in tiers.items():
        lookups = t["hits"] + t["misses"]
        if t["evictions"] > max(10, t["sets"] // 4):
            found.append(advice("warning", f"{t['evictions']} evictions for {t['sets']} sets in the {name} tier: "
                                           "raise CACHE_MAX_SIZE.", tier=name))
        if lookups >= 100 and t["hit_rate_percent"] < 30:
            found.append(advice("info", f"Hit rate {t['hit_rate_percent']}% in the {name} tier: entries are rarely "
                                        "reused (many distinct filters, or writes invalidate them first).", tier=name))
    if not found:
        found.append(advice("info", "Cache is healthy."))
    return found
