"""The tenants mix driven by wrk (service/bench/tenants.lua) against the real service and
PostgreSQL: every answer is tallied by the kind of call it answers, and the writes it
counts as accepted are in the database. wrk comes from .ci/run; without CI the test
skips when wrk is missing."""
from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from service.bench.load_wrk import WrkGenerator
from service.bench.tenants import MIX, WRITES, Tenant, TenantCalls, run_tenants

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None and os.environ.get("CI") != "true",
                                reason="wrk is not installed (.ci/run installs it)")


async def test_wrk_tallies_every_answer_of_the_tenants_mix_by_its_kind(api, db_conn):
    group, owners = [], []
    for _ in range(3):
        user = await api.user()
        project = await api.project_of(user)
        posts = await api.posts_of(user, project["id"], 5)
        group.append(Tenant(user.headers, [project["id"]], [p["id"] for p in posts]))
        owners.append(user.id)
    calls = TenantCalls(group)
    base_url = str(api.client.make_url("/")).rstrip("/")

    result = await asyncio.to_thread(run_tenants, base_url, calls, connections=3, seconds=2,
                                     wrk=WrkGenerator(shutil.which("wrk") or "wrk", threads=2))

    tally = calls.tally
    assert result.requests > 50 and result.errors == 0 and result.non_2xx == 0, result
    # Each answer was told apart by the X-Request-ID the service echoed: every kind of the
    # mix was seen, and hits, misses and accepted writes add up to wrk's own count.
    assert set(tally.by_kind) == set(MIX) and all(tally.by_kind.values()), tally.by_kind
    assert sum(tally.by_kind.values()) == result.requests
    assert tally.hits > 0 and tally.misses > 0 and tally.rejected_writes == 0
    assert tally.hits + tally.misses == result.requests - sum(tally.by_kind[kind] for kind in WRITES)
    created = await db_conn.fetchval(
        "SELECT count(*) FROM posts WHERE owner_id = ANY($1::uuid[]) AND content LIKE 'tenant create %'", owners)
    # Every create counted is there; a create still in flight when wrk stopped is there
    # without its answer counted (at most one per connection).
    assert tally.by_kind["create"] <= created <= tally.by_kind["create"] + 3
