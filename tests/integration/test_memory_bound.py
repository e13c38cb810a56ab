"""The memory attack of issue 15 replayed against a real `run.py serve` process: many
distinct list URLs whose answers are megabytes each. The worker's response cache holds
at most CACHE_MAX_BYTES however they are requested, and the worker's resident memory
stays within that budget plus working room (docs/API.md section 3, Limits)."""
from __future__ import annotations

import asyncio

import asyncpg
from live import rss_of, served

BUDGET = 32 * 1024 * 1024
WORKING_ROOM = 96 * 1024 * 1024         # the answer being built, the driver's buffers, the allocator


def test_distinct_heavy_lists_cannot_push_a_worker_past_its_cache_budget(database_url, tmp_path):
    with served(database_url, tmp_path, CACHE_MAX_BYTES=str(BUDGET), CACHE_MAX_SIZE="1000") as service:
        _, _, token = service.user()
        client = service.call("POST", "/api/clients", token, {"name": "Heavy"})[1]
        project = service.call("POST", "/api/projects", token, {"client_id": client["id"], "name": "P"})[1]
        content = "word " * 19_999 + "end"                  # 100,000 characters, the most a post takes
        _bulk_insert(database_url, project["id"], content, 100)
        service.call("GET", "/api/posts?page_size=1", token)
        pid = service.process.pid
        before = rss_of(pid)
        peak = before
        for size in range(40, 101):                          # 61 distinct URLs, 4-10 MB each: ~430 MB unbounded
            status, body = service.call("GET", f"/api/posts?page_size={size}&project_id={project['id']}", token,
                                        timeout=60)
            assert status == 200 and len(body["items"]) == size
            peak = max(peak, rss_of(pid))
        _, admin_token = service.user(admin=True, database_url=database_url)[1:]
        report = service.call("GET", "/api/health/cache", admin_token)[1]
    assert report["max_bytes"] == BUDGET and report["bytes"] <= BUDGET
    assert sum(t["evictions"] for t in report["tiers"].values()) > 0
    grown = peak - before
    print(f"worker RSS {before / 2**20:.0f} MiB -> peak {peak / 2**20:.0f} MiB; cache holds "
          f"{report['bytes'] / 2**20:.1f} MiB of its {BUDGET / 2**20:.0f} MiB")
    assert grown < BUDGET + WORKING_ROOM, f"the worker grew {grown / 2**20:.0f} MiB"


def _bulk_insert(database_url: str, project_id: str, content: str, count: int) -> None:
    """Posts straight into the table (the API would take them too, 50 at a time; this is faster)."""
    async def insert() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("""
                INSERT INTO posts (owner_id, project_id, content, word_count)
                SELECT owner_id, id, $2, 20000 FROM projects, generate_series(1, $3) WHERE id = $1::uuid""",
                               project_id, content, count)
        finally:
            await conn.close()
    asyncio.run(insert())


