"""The tenants scenario: 50 users, each on their own data, 90 % reads / 10 % writes, cache on.

Every call goes to a tenant drawn at random (seeded; with that tenant's token) and is
that tenant's next call in a fixed shuffled cycle of the mix (each tenant its own walk of
the same cycle). Reads are the dashboard's: page 1, page 1 filtered, the projects
list and single posts. Writes are the tenant's own creates and patches. The same mix is
then run by one tenant alone at the rate each of the 50 had (their req/s / 50, on one
connection): since a write drops only its owner's cached answers (migration 0013), the
50-tenant hit rate should match the lone tenant's. (Unpaced, one tenant would write 50
times as often into its own cache and hit far less: that compares load, not isolation.)

The hit rate counts the reads the service answered from its cache: each response's
Server-Timing header says `cache;desc="hit"` or `"miss"` (bypassed reads are left out).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from service.bench import api_client
from service.bench.load import LoadResult
from service.bench.load_builtin import Call, drive
from service.bench.load_wrk import DONE_HOOK, WrkGenerator, parse_output

TENANTS = 50
# The service's CACHE_MAX_SIZE for this scenario: each tenant keeps ~12 entries in the
# short tier (its lists and post details), 600 for 50 tenants; at the default 100 the LRU
# evicts tenants' entries for each other (measured: 33 % hits vs 54 % alone), which is
# sizing, not invalidation. docs/performance.md ("Tenants") has both figures.
CACHE_SIZE = 1000
POSTS_EACH = 400
BY_ID = 10                  # posts per tenant the reads rotate through
# Out of 100 calls: 90 reads, 10 writes.
MIX = {"page1": 35, "filtered": 15, "projects": 15, "by_id": 25, "create": 5, "patch": 5}
READS = {"page1": "/api/posts", "filtered": "/api/posts?status=approved&platform=linkedin",
         "projects": "/api/projects"}


@dataclass
class Tenant:
    headers: dict[str, str]
    project_ids: list[str]
    post_ids: list[str]


def gather_tenants(base_url: str, credentials: list[tuple[str, str]]) -> list[Tenant]:
    tenants = []
    for email, password in credentials:
        token = api_client.login(base_url, email, password)
        projects = api_client.call(base_url, "GET", "/api/projects?page_size=10", token)["items"]
        posts = api_client.call(base_url, "GET", f"/api/posts?page_size={BY_ID}", token)["items"]
        tenants.append(Tenant({"Authorization": f"Bearer {token}"}, [p["id"] for p in projects],
                              [p["id"] for p in posts]))
    return tenants


@dataclass
class Tally:
    hits: int = 0
    misses: int = 0
    rejected_writes: int = 0
    # Calls per kind: issued (built-in generator), or answered (wrk: a read the cache
    # bypassed, neither hit nor miss, is not counted).
    by_kind: dict[str, int] = field(default_factory=dict)
    # kind -> [hits, misses]: which reads the misses come from
    reads_by_kind: dict[str, list[int]] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float | None:
        reads = self.hits + self.misses
        return None if reads == 0 else 100.0 * self.hits / reads

    def kind_hit_rates(self) -> str:
        """e.g. "page1 62 %, by_id 91 %": the hit rate of each kind of read."""
        return ", ".join(f"{kind} {100.0 * hits / (hits + misses):.0f} %"
                         for kind, (hits, misses) in sorted(self.reads_by_kind.items()) if hits + misses)


def _shuffled_mix(seed: int) -> list[str]:
    """The cycle of call kinds every tenant walks: MIX's 100 slots in a seeded order."""
    slots = [kind for kind, weight in MIX.items() for _ in range(weight)]
    random.Random(seed).shuffle(slots)
    return slots


class TenantCalls:
    """Hands out the mix, each call to a tenant drawn at random; tallies cache hits."""

    def __init__(self, tenants: list[Tenant], seed: int = 7) -> None:
        self.seed = seed        # tenants.lua walks the same cycle (run_tenants with wrk)
        slots = _shuffled_mix(seed)
        # Each tenant walks the same shuffled cycle of the mix, so each of the 50 makes
        # the very sequence of calls the lone tenant makes: what differs between the two
        # runs is only the other tenants. (One cycle shared by all, each call going to a
        # random tenant, gave each tenant a random sequence and the lone tenant the
        # cycle's own: the two hit rates then differed by the sequences, up to 10 points
        # on page 1, not by the tenants.)
        self._slots = {id(t): itertools.cycle(slots) for t in tenants}
        self.tenants = tenants
        self._pick = random.Random(seed + 1).choice
        self._posts = {id(t): itertools.cycle(t.post_ids) for t in tenants}
        self._projects = {id(t): itertools.cycle(t.project_ids) for t in tenants}
        self.tally = Tally()

    def __call__(self) -> Call:
        tenant = self._pick(self.tenants)
        kind = next(self._slots[id(tenant)])
        self.tally.by_kind[kind] = self.tally.by_kind.get(kind, 0) + 1
        if kind == "by_id":
            return Call("GET", f"/api/posts/{next(self._posts[id(tenant)])}", headers=tenant.headers, tag=kind)
        if kind == "patch":
            return Call("PATCH", f"/api/posts/{next(self._posts[id(tenant)])}",
                        {"content": f"tenant patch {secrets.token_hex(8)}"}, tag="write", headers=tenant.headers)
        if kind == "create":
            return Call("POST", "/api/posts", {"project_id": next(self._projects[id(tenant)]),
                                               "content": f"tenant create {secrets.token_hex(8)}"},
                        tag="write", headers=tenant.headers)
        return Call("GET", READS[kind], headers=tenant.headers, tag=kind)

    def on_response(self, call: Call, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        if call.tag == "write":
            if not 200 <= status < 300:
                self.tally.rejected_writes += 1
            return
        timing = headers.get("Server-Timing", "")
        tally = self.tally.reads_by_kind.setdefault(call.tag, [0, 0])
        if 'cache;desc="hit"' in timing:
            self.tally.hits += 1
            tally[0] += 1
        elif 'cache;desc="miss"' in timing:
            self.tally.misses += 1
            tally[1] += 1


# --- the same mix driven by wrk (tenants.lua) ----------------------------------------------

WRITES = ("create", "patch")


def tenants_script(tenants: list[Tenant], *, threads: int, seed: int) -> str:
    """tenants.lua with its data: the tenants, the shuffled cycle and the read paths."""
    def lua(value: object) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"[{json.dumps(k)}] = {lua(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "{" + ", ".join(lua(v) for v in value) + "}"
        return json.dumps(value)     # ASCII strings and numbers: JSON and Lua agree
    data = {"THREADS": threads, "SEED": seed, "SLOTS": _shuffled_mix(seed), "READS": READS,
            "TENANTS": [{"auth": t.headers["Authorization"], "posts": t.post_ids, "projects": t.project_ids}
                        for t in tenants]}
    prelude = "".join(f"{name} = {lua(value)}\n" for name, value in data.items())
    return prelude + Path(__file__).with_name("tenants.lua").read_text() + DONE_HOOK


def tally_of(stdout: str) -> Tally:
    """The WRKTALLY line tenants.lua prints: kind -> [hits, misses] (reads) or
    [accepted, rejected] (writes)."""
    for line in stdout.splitlines():
        if line.startswith("WRKTALLY "):
            counts = json.loads(line[len("WRKTALLY "):])
            break
    else:
        raise RuntimeError("wrk printed no tenants tally:\n" + stdout[-2000:])
    tally = Tally(by_kind={kind: a + b for kind, (a, b) in counts.items()})
    for kind, (a, b) in counts.items():
        if kind in WRITES:
            tally.rejected_writes += b
        else:
            tally.hits += a
            tally.misses += b
            tally.reads_by_kind[kind] = [a, b]
    return tally


def run_tenants(base_url: str, calls: TenantCalls, *, connections: int, seconds: float,
                rate: float | None = None, wrk: WrkGenerator | None = None) -> LoadResult:
    """The mix for `seconds`, tallied in calls.tally: by wrk when given (tenants.lua; it
    cannot pace), else by the built-in generator. `rate`: calls per second in all
    (unbounded when None). wrk counts whole seconds: a shorter run (a --quick warm-up)
    stays built-in."""
    if wrk is None or seconds < 1:
        return asyncio.run(drive(base_url, calls, connections=connections, seconds=seconds, headers={},
                                 on_response=calls.on_response, rate=rate))
    assert rate is None, "wrk does not pace its calls"
    threads = wrk.threads_for(connections)
    assert len(calls.tenants) >= threads, "each wrk thread drives tenants of its own"
    script = tenants_script(calls.tenants, threads=threads, seed=calls.seed)
    stdout = wrk.run_script(base_url, script, connections=connections, seconds=seconds)
    calls.tally = tally_of(stdout)
    return parse_output(stdout)
