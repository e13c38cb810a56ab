"""The response cache: three aiocache memory tiers, bounded, single-flight, invalidated by namespace.

What is cached is finished responses (body bytes + ETag) and token lookups, under
keys that carry the resource namespace, the caller's visibility scope (a user id, or
"admin") and every request parameter, so one user's rows can never answer another
user's request.

Entries are grouped in partitions (namespace, scope, item): the item is the id of the
one row a detail answer shows (GET /api/posts/{id}), or LISTS for everything else
(lists, and any answer that may show several rows). A write by one owner drops that
owner's partitions and the admin's (who sees every owner's rows) in the namespaces it
feeds, and leaves other users' entries alone; a write whose owner is unknown drops
the whole namespace. When the write says which rows it changed (the NOTIFY payload
`posts:<owner>:<id>,<id>`, or `:+` for new rows only), only those rows' detail
entries and the owner's and admin's LISTS entries of that namespace are dropped: a
patch of one post leaves the owner's other cached posts in place, a create leaves
every cached post. A namespace whose details alone a table feeds (a project's detail
carries its post counts; the projects list does not) loses the owner's and admin's
details on a write to that table and keeps their lists (EVERY_DETAIL).

Correctness rules, in order of importance:
- Invalidation drops entries and stamps the partition (or the namespace) with the
  invalidation clock. A load that began before a stamp covering it is not stored (it
  may hold pre-write rows), and a request arriving after the stamp never joins a
  load that began before it.
- A failed load is not cached; its waiters get the same error.
- While the cross-instance invalidation feed (LISTEN) is down, the cache is
  emptied and bypassed: it cannot know what other instances changed.

What is switched on is per namespace: responses with CACHE_ENABLED, token lookups (the
"users" namespace) with AUTH_CACHE_ENABLED, so CACHE_ENABLED=false can keep the token
lookups cached (the feed then runs for them alone; app.py).
"""
from __future__ import annotations

import asyncio
import bisect
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiocache import SimpleMemoryCache

from service.context import current_request
from service.observability.advice import Advice, advice
from service.settings import Settings

TIERS = ("short", "medium", "long")
NAMESPACES = ("clients", "projects", "runs", "posts", "users")
# Namespaces whose entries carry an owner scope; an owner-scoped invalidation of any
# other namespace (users: keyed by token) drops all of it.
SCOPED_NAMESPACES = frozenset({"clients", "projects", "runs", "posts"})
# Bearer token -> session (auth/guards.py): switched by AUTH_CACHE_ENABLED, not CACHE_ENABLED.
TOKEN_NAMESPACE = "users"
ADMIN_SCOPE = "admin"
# The item of entries that are not one row's detail (lists); ALL_ITEMS stamps a whole
# (namespace, scope), every item of it.
LISTS = ""
ALL_ITEMS = "*"
# Stamps every detail of a (namespace, scope) and no list: see EVERY_DETAIL.
DETAILS = "#"
# Partition stamps remembered; beyond this the oldest are forgotten and a load that
# began before a forgotten stamp is not stored (safe, costs a miss).
MAX_REMEMBERED_STAMPS = 10_000

Partition = tuple[str, str, str]   # (namespace, scope, item)
# What a write changed, per namespace: the ids of the changed rows (an empty set: only
# new rows, so no detail entry), or EVERY_DETAIL (every detail answer, no list: a post
# changes its project's post counts, which only the project's detail shows). A namespace
# absent from it changed for the whole owner.
ChangedRows = Mapping[str, frozenset[str]]
EVERY_DETAIL: frozenset[str] = frozenset({DETAILS})     # no row id looks like "#"
# What one entry costs beyond its value and its key's characters: the key object and its
# slots in aiocache's map and ours (recency, partition, scope, sizes), aiocache's TTL timer,
# the partition tuple. Measured: ~1,240 bytes per small entry under uvloop (the default
# EVENT_LOOP), ~870 under asyncio (tests/unit/test_probe_cache_memory.py). It was 300, which let
# small answers hold ~2.8 times CACHE_MAX_BYTES.
ENTRY_OVERHEAD_BYTES = 1280
# A value over this share of the budget is answered but not stored: it would flush the rest.
LARGEST_SHARE = 4
# Under pressure, a scope (one user's answers, the admins', the token lookups) holding
# more than 1/SCOPE_SHARE of a tier's entries or of the cache's bytes makes room for its
# own new entry with its own oldest one: one greedy user's many distinct requests cannot
# flush everyone else's answers. Without pressure a scope may fill the cache.
SCOPE_SHARE = 4


def entry_bytes(key: str, value: Any) -> int:
    """What an entry holds in memory, near enough: values say (`nbytes`), others count as small."""
    return ENTRY_OVERHEAD_BYTES + len(key) + getattr(value, "nbytes", 256)


class ByteBudget:
    """The bytes every tier of one cache may hold together (CACHE_MAX_BYTES)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    @property
    def over(self) -> bool:
        return self.used > self.limit


@dataclass
class TierStats:
    hits: int = 0
    misses: int = 0
    sets: int = 0
    evictions: int = 0
    byte_evictions: int = 0     # those of the evictions that CACHE_MAX_BYTES forced (advice)
    invalidations: int = 0

    def reset(self) -> None:
        self.hits = self.misses = self.sets = self.evictions = self.byte_evictions = self.invalidations = 0


class CacheTier:
    """One aiocache memory backend with our LRU bound (aiocache has none) and statistics."""

    def __init__(self, name: str, ttl: int, maxsize: int, budget: ByteBudget | None = None) -> None:
        self.name = name
        self.ttl = ttl
        self.maxsize = maxsize
        self.budget = budget or ByteBudget(1 << 62)
        self.bytes = 0
        self._sizes: dict[str, int] = {}
        # timeout=None: aiocache would otherwise wrap every call in asyncio.wait_for.
        self.backend = SimpleMemoryCache(timeout=None)
        # key -> (partition, expiry on the monotonic clock), in recency order.
        self._entries: OrderedDict[str, tuple[Partition, float]] = OrderedDict()
        self._by_partition: dict[Partition, set[str]] = {}
        self._scopes: dict[str, set[str]] = {}      # namespace -> scopes holding entries
        self._items: dict[tuple[str, str], set[str]] = {}   # (namespace, scope) -> items holding entries
        # scope -> its keys in this tier, oldest stored first, and their bytes (SCOPE_SHARE)
        self._scope_keys: dict[str, dict[str, None]] = {}
        self._scope_bytes: dict[str, int] = {}
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

    async def set(self, key: str, value: Any, partition: Partition, ttl: float | None = None) -> bool:
        """Store an entry (False when it is too large to keep); then evict while over the bounds."""
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        size = entry_bytes(key, value)
        if ttl <= 0 or size > self.budget.limit // LARGEST_SHARE:
            return False
        await self.backend.set(key, value, ttl=ttl)
        self.stats.sets += 1
        self._forget(key)
        self._entries[key] = (partition, time.monotonic() + ttl)
        self._by_partition.setdefault(partition, set()).add(key)
        self._scopes.setdefault(partition[0], set()).add(partition[1])
        self._items.setdefault(partition[:2], set()).add(partition[2])
        self._sizes[key] = size
        self.bytes += size
        self.budget.used += size
        scope = partition[1]
        self._scope_keys.setdefault(scope, {})[key] = None
        self._scope_bytes[scope] = self._scope_bytes.get(scope, 0) + size
        while len(self._entries) > self.maxsize or (self.budget.over and len(self._entries) > 1):
            await self.evict_one(scope, for_bytes=len(self._entries) <= self.maxsize)
        return True

    async def evict_one(self, storing: str | None = None, *, for_bytes: bool = False) -> bool:
        """Make room for an entry of scope `storing`: that scope's own oldest entry if it
        holds more than its share (SCOPE_SHARE), else the least recently used entry. Only
        the storing scope is looked at (constant time, however many scopes there are): a
        scope over its share pays for its own stores, so it stays near its share whenever
        others need room, and the rest of the tier is plain LRU."""
        if not self._entries:
            return False
        key = None
        own = self._scope_keys.get(storing) if storing is not None else None
        if own is not None and len(own) > 1 and len(self._scope_keys) > 1 and (
                len(own) > self.maxsize // SCOPE_SHARE
                or self._scope_bytes[storing] > self.budget.limit // SCOPE_SHARE):
            key = next(iter(own))
        if key is None:
            key = next(iter(self._entries))
        partition, _ = self._entries.pop(key)
        self._unlink(key, partition)
        await self.backend.delete(key)
        self.stats.evictions += 1
        self.stats.byte_evictions += for_bytes
        return True

    def _unlink(self, key: str, partition: Partition) -> None:
        size = self._sizes.pop(key, 0)
        self.bytes -= size
        self.budget.used -= size
        scope = partition[1]
        own = self._scope_keys.get(scope)
        if own is not None:
            own.pop(key, None)
            left = self._scope_bytes.get(scope, 0) - size
            if own:
                self._scope_bytes[scope] = left
            else:
                del self._scope_keys[scope]
                self._scope_bytes.pop(scope, None)
        keys = self._by_partition.get(partition)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_partition[partition]
                self._forget_partition(partition)

    def _forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._unlink(key, entry[0])

    def _forget_partition(self, partition: Partition) -> None:
        """The partition holds no entry any more: unlist it from its scope and namespace."""
        items = self._items.get(partition[:2])
        if items is not None:
            items.discard(partition[2])
            if not items:
                del self._items[partition[:2]]
                self._scopes.get(partition[0], set()).discard(partition[1])

    async def drop_partition(self, partition: Partition) -> int:
        keys = self._by_partition.pop(partition, set())
        self._forget_partition(partition)
        for key in keys:
            self._entries.pop(key, None)
            self._unlink(key, partition)
            await self.backend.delete(key)
        return len(keys)

    async def drop_scope(self, namespace: str, scope: str, *, keep_lists: bool = False) -> int:
        """Every entry of one scope in a namespace, whatever its item (but LISTS with keep_lists)."""
        dropped = 0
        for item in list(self._items.get((namespace, scope), ())):
            if not (keep_lists and item == LISTS):
                dropped += await self.drop_partition((namespace, scope, item))
        return dropped

    async def drop_namespace(self, namespace: str) -> int:
        dropped = 0
        for scope in list(self._scopes.get(namespace, ())):
            dropped += await self.drop_scope(namespace, scope)
        self._scopes.pop(namespace, None)
        return dropped

    async def clear(self) -> int:
        count = len(self._entries)
        # Key by key: aiocache's clear() empties its map but leaves each entry's TTL timer
        # scheduled, and a timer that fires later deletes the entry stored under its key by
        # then, long before that entry's own TTL. delete() cancels the timer.
        for key in list(self._entries):
            await self.backend.delete(key)
        self._entries.clear()
        self._by_partition.clear()
        self._scopes.clear()
        self._items.clear()
        self._sizes.clear()
        self._scope_keys.clear()
        self._scope_bytes.clear()
        self.budget.used -= self.bytes
        self.bytes = 0
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
            "size": self.size(), "maxsize": self.maxsize, "bytes": self.bytes, "ttl_seconds": self.ttl,
            "hits": self.stats.hits, "misses": self.stats.misses, "sets": self.stats.sets,
            "evictions": self.stats.evictions, "byte_evictions": self.stats.byte_evictions,
            "invalidations": self.stats.invalidations,
            "hit_rate_percent": round(100.0 * self.stats.hits / lookups, 2) if lookups else 0.0,
        }


class _LoadAbandoned(Exception):
    """The request leading a shared load was cancelled before it finished."""


class ResponseCache:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.cache_enabled               # responses
        self.tokens_enabled = settings.auth_cache_enabled   # token lookups
        # namespace -> is it cached at all (while the feed is up)
        self._switched_on = {namespace: self.enabled for namespace in NAMESPACES}
        self._switched_on[TOKEN_NAMESPACE] = self.tokens_enabled
        self.budget = ByteBudget(settings.cache_max_bytes)
        self.tiers = {
            "short": CacheTier("short", settings.cache_short_ttl, settings.cache_max_size, self.budget),
            "medium": CacheTier("medium", settings.cache_medium_ttl, settings.cache_max_size, self.budget),
            "long": CacheTier("long", settings.cache_long_ttl, settings.cache_max_size, self.budget),
        }
        # The invalidation clock: +1 per invalidation. Stamps say when a namespace, or one
        # partition of it, was last invalidated; a load remembers the clock it began at.
        self._clock = 0
        self._namespace_stamps: dict[str, int] = {}
        self._partition_stamps: OrderedDict[Partition, int] = OrderedDict()
        self._forgotten_up_to = 0    # the newest stamp dropped from _partition_stamps
        self._cleared_at = 0         # the last clear() of every namespace
        # When (monotonic) the clock reached each recent value, for answers read on a
        # replica: see _clock_at.
        self._tick_times: list[float] = []
        self._tick_clocks: list[int] = []
        self._tick_floor = 0          # the clock before the oldest remembered tick
        # full key -> (future of the load in flight, the clock it began at)
        self._inflight: dict[str, tuple[asyncio.Future, int]] = {}
        # False while the invalidation feed is down: then nothing is read or stored.
        self.trusted = True
        self.loads = 0          # loader executions (single-flight evidence)

    @property
    def active(self) -> bool:
        """Are responses read from and stored in the cache right now?"""
        return self.enabled and self.trusted

    def caches(self, namespace: str) -> bool:
        """Is this namespace read from and stored in the cache right now?"""
        return self.trusted and self._switched_on.get(namespace, self.enabled)

    def _changed_since(self, partition: Partition, began: int) -> bool:
        """Was the partition (its scope, or its namespace) invalidated after a load that
        began at `began`?"""
        if self._cleared_at > began or self._namespace_stamps.get(partition[0], 0) > began:
            return True
        if partition[2] != LISTS and self._stamp_of((*partition[:2], DETAILS)) > began:
            return True
        return self._stamp_of(partition) > began or self._stamp_of((*partition[:2], ALL_ITEMS)) > began

    def _stamp_of(self, partition: Partition) -> int:
        stamp = self._partition_stamps.get(partition)
        return self._forgotten_up_to if stamp is None else stamp    # unknown: the newest forgotten stamp

    async def get_or_load(self, tier: str, namespace: str, key: str,
                          loader: Callable[[], Awaitable[Any]], ttl: float | None = None,
                          scope: str = "", item: str = LISTS, answer: bool = True) -> Any:
        """The cached value for key, or loader()'s result (stored unless a write intervened).

        `scope` is the caller's visibility (a user id, or "admin"): part of the key, and
        what an owner-scoped invalidation drops. `item`: the id of the one row the answer
        shows (a detail), or LISTS when it may show several; the key must already name it.
        `answer`: the value is the request's answer, so its hit, miss or bypass is what
        Server-Timing's cache field reports; False for a lookup on the way (the token's),
        which said "hit" on routes that have no cached answer."""
        ctx = current_request.get()
        marked = ctx if answer else None
        if not self.caches(namespace):
            if marked is not None:
                marked.cache = "bypass"
            return await loader()
        store = self.tiers[tier]
        full_key = f"{namespace}|{scope}|{key}"
        value = await store.get(full_key)
        if value is not None:
            if marked is not None:
                marked.cache = "hit"
            return value
        if marked is not None:
            marked.cache = "miss"
        partition = (namespace, scope, item)
        pending = self._inflight.get(full_key)
        if pending is not None and not self._changed_since(partition, pending[1]):
            try:
                return await asyncio.shield(pending[0])
            except _LoadAbandoned:       # the leader's request went away: load for ourselves
                return await self.get_or_load(tier, namespace, key, loader, ttl, scope, item, answer)
        began = self._clock
        future = asyncio.get_running_loop().create_future()
        self._inflight[full_key] = (future, began)
        outer_covered = None
        if ctx is not None:
            outer_covered, ctx.replica_covered = ctx.replica_covered, None
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
            if self._inflight.get(full_key, (None,))[0] is future:
                del self._inflight[full_key]
        if ctx is not None and ctx.replica_covered is not None:
            # Read on a replica that holds every commit acknowledged before
            # ctx.replica_covered: what was invalidated since may be older here than on
            # the primary, even though the load began after the invalidation.
            covered = ctx.replica_covered
            began = min(began, self._clock_at(covered))
            ctx.replica_covered = covered if outer_covered is None else min(outer_covered, covered)
        elif ctx is not None:
            ctx.replica_covered = outer_covered
        # Stored only if no write that can change it happened while loading.
        if value is not None and self.caches(namespace) and not self._changed_since(partition, began):
            await store.set(full_key, value, partition, ttl)
            await self._within_budget(scope)
        return value

    async def _within_budget(self, storing: str) -> None:
        """Over CACHE_MAX_BYTES after a store of scope `storing` (the tier could not free
        enough by itself): evict from the tier holding the most bytes (evict_one)."""
        while self.budget.over:
            fullest = max(self.tiers.values(), key=lambda tier: tier.bytes)
            if not await fullest.evict_one(storing, for_bytes=True):
                break

    def _tick(self) -> None:
        """Advance the invalidation clock, remembering when (a bounded history)."""
        self._clock += 1
        self._tick_times.append(time.monotonic())
        self._tick_clocks.append(self._clock)
        if len(self._tick_times) > 2 * MAX_REMEMBERED_STAMPS:
            self._tick_floor = self._tick_clocks[MAX_REMEMBERED_STAMPS - 1]
            del self._tick_times[:MAX_REMEMBERED_STAMPS]
            del self._tick_clocks[:MAX_REMEMBERED_STAMPS]

    def _clock_at(self, moment: float) -> int:
        """The clock's value at `moment` (monotonic); before the remembered history, the
        value before it (everything since counts as changed: the safe side)."""
        index = bisect.bisect_right(self._tick_times, moment)
        return self._tick_clocks[index - 1] if index else self._tick_floor

    async def invalidate(self, namespaces: Iterable[str], owner: str | None = None,
                         rows: ChangedRows | None = None) -> None:
        """Drop what a write can have changed in these namespaces: with an owner, that
        owner's entries and the admin's; without one (or in an unscoped namespace), all.
        `rows` narrows an owner's write further, per namespace: only the LISTS entries and
        the details of the changed rows, or every detail and no list (ChangedRows)."""
        rows = rows or {}
        for namespace in set(namespaces):
            self._tick()
            if owner is None or namespace not in SCOPED_NAMESPACES:
                self._namespace_stamps[namespace] = self._clock
                for store in self.tiers.values():
                    await store.drop_namespace(namespace)
                    store.stats.invalidations += 1
                continue
            changed = rows.get(namespace)
            for scope in (owner, ADMIN_SCOPE):
                if changed is None or changed == EVERY_DETAIL:
                    details_only = changed is not None
                    self._stamp((namespace, scope, DETAILS if details_only else ALL_ITEMS))
                    for store in self.tiers.values():
                        await store.drop_scope(namespace, scope, keep_lists=details_only)
                    continue
                for item in (LISTS, *changed):
                    self._stamp((namespace, scope, item))
                    for store in self.tiers.values():
                        await store.drop_partition((namespace, scope, item))
            for store in self.tiers.values():
                store.stats.invalidations += 1

    def _stamp(self, partition: Partition) -> None:
        self._partition_stamps[partition] = self._clock
        self._partition_stamps.move_to_end(partition)
        while len(self._partition_stamps) > MAX_REMEMBERED_STAMPS:
            _, stamp = self._partition_stamps.popitem(last=False)
            self._forgotten_up_to = max(self._forgotten_up_to, stamp)

    async def clear(self, tier: str | None = None, namespace: str | None = None) -> None:
        tiers = [self.tiers[tier]] if tier else list(self.tiers.values())
        self._tick()
        if namespace is not None:
            self._namespace_stamps[namespace] = self._clock
            for store in tiers:
                await store.drop_namespace(namespace)
        else:
            self._cleared_at = self._clock
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
        return {"enabled": self.enabled, "token_cache_enabled": self.tokens_enabled, "coherent": self.trusted,
                "tiers": tiers, "bytes": self.budget.used, "max_bytes": self.budget.limit,
                "recommendations": recommendations(tiers, self.enabled, self.trusted, self.tokens_enabled)}


def recommendations(tiers: dict[str, dict], enabled: bool, trusted: bool,
                    tokens_enabled: bool = False) -> list[Advice]:
    found: list[Advice] = []
    if not enabled and not tokens_enabled:
        return [advice("info", "The cache is disabled (CACHE_ENABLED=false, AUTH_CACHE_ENABLED=false).")]
    if not enabled:
        found.append(advice("info", "Responses are not cached (CACHE_ENABLED=false); token lookups are "
                                    "(AUTH_CACHE_ENABLED)."))
    if not trusted:
        found.append(advice("critical", "The invalidation listener is disconnected: the cache is bypassed until it "
                                        "reconnects."))
    for name, t in tiers.items():
        lookups = t["hits"] + t["misses"]
        if t["evictions"] > max(10, t["sets"] // 4):
            # Name the bound that forced most of them: raising the other changes nothing.
            bound = "CACHE_MAX_BYTES" if 2 * t["byte_evictions"] > t["evictions"] else "CACHE_MAX_SIZE"
            found.append(advice("warning", f"{t['evictions']} evictions for {t['sets']} sets in the {name} tier: "
                                           f"raise {bound}.", tier=name))
        if lookups >= 100 and t["hit_rate_percent"] < 30:
            found.append(advice("info", f"Hit rate {t['hit_rate_percent']}% in the {name} tier: entries are rarely "
                                        "reused (many distinct filters, or writes invalidate them first).", tier=name))
    if not found:
        found.append(advice("info", "Cache is healthy."))
    return found
