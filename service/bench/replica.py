"""Replica benchmark (issue 9 part 2): `python -m service.bench.replica [--posts N] [--requests N]`.

On an embedded PostgreSQL in a temporary directory plus a streaming standby of it
(service/topology/standby.py), with the response cache off, the same user's list
(`GET /api/posts`, first page of 20) and detail (`GET /api/posts/{id}`) requests are
timed one at a time, end to end through HTTP, against two instances served side by side:
- primary: no DATABASE_REPLICA_URL;
- replica: DATABASE_REPLICA_URL set, a reader without a recent write (its fence is
  replayed): read on the replica, after the fence lookup on the primary;
- fenced: the same instance once the reader has written and the replica's replay is
  paused: the fence lookup, then the primary.
The two instances take turns, 50 requests at a time, each phase against primary.
Prints p50 / p95 / mean in milliseconds; writes nothing else.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from aiohttp import web

BATCH = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _serve(settings):
    from service.app import create_app
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def _timed(http: aiohttp.ClientSession, urls: list[str], headers: dict) -> list[float]:
    times = []
    for url in urls:
        started = time.perf_counter()
        async with http.get(url, headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, (url, resp.status)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):5.2f}  p95 {p95:5.2f}  mean {statistics.fmean(ordered):5.2f}"


async def _bench(primary, standby, posts: int, requests: int) -> None:
    from service.db.database import Database
    from service.db.embedded import ensure_database
    from service.db.migrations import migrate
    from service.settings import Settings
    from service.store.seed import analyze, seed

    url = primary.uri()
    await ensure_database(primary.uri("postgres"))
    base = Settings(database_url=url, secret_key="bench-" + "x" * 40, cache_enabled=False, jobs_worker=False,
                    profiling_enabled=False, access_log=False, db_pool_size=4, db_max_overflow=4)
    async with Database.connect(url, base) as db:
        await migrate(db)
    replica_settings = base.replace(database_replica_url=standby.url(urlsplit(url).path.lstrip("/")))

    runner, root = await _serve(base)
    async with aiohttp.ClientSession() as http:
        tokens = {}
        for name in ("reader", "writer"):
            email = f"{name}@example.com"
            async with http.post(f"{root}/api/auth/register", json={"email": email, "password": "password-123"}) as r:
                user_id = (await r.json())["id"]
            async with http.post(f"{root}/api/auth/login", json={"email": email, "password": "password-123"}) as r:
                tokens[name] = ((await r.json())["access_token"], user_id)
    await runner.cleanup()
    reader_id = tokens["reader"][1]
    async with Database.connect(url, base) as db:
        started = time.perf_counter()
        await seed(db, owner_id=reader_id, clients=10, projects=50, posts=posts, show_progress=False)
        await analyze(db)
        print(f"seeded {posts:,} posts in {time.perf_counter() - started:.1f} s")
    conn = await asyncpg.connect(url)
    ids = [str(r["id"]) for r in await conn.fetch("SELECT id FROM posts ORDER BY random() LIMIT 500")]
    await asyncio.to_thread(standby.wait_for_lsn, await conn.fetchval("SELECT pg_current_wal_lsn()::text"))

    rng = random.Random(7)
    list_urls = ["/api/posts?page_size=20"] * requests
    detail_urls = [f"/api/posts/{rng.choice(ids)}" for _ in range(requests)]
    # The other helpers' load on a shared machine drifts: the set-ups take turns, a batch
    # at a time, so a busy moment costs each of them alike.
    replica_settings = replica_settings.replace(db_replica_max_lag_s=3600.0)
    primary_app, primary_root = await _serve(base)
    replica_app, replica_root = await _serve(replica_settings)
    headers = {"Authorization": f"Bearer {tokens['reader'][0]}"}
    print(f"{requests} sequential requests per set-up and kind, cache off, one user's posts ({posts:,}), "
          f"in batches of {BATCH} taking turns; times in ms")
    try:
        async with aiohttp.ClientSession() as http:
            for phase in ("replica", "fenced"):
                if phase == "fenced":
                    standby.pause_replay()
                    # a write of the reader, which the paused replica will not reach
                    async with http.post(f"{replica_root}/api/clients", json={"name": "fence"},
                                         headers=headers) as r:
                        assert r.status == 201, r.status
                await _timed(http, [primary_root + u for u in list_urls[:50] + detail_urls[:50]], headers)
                await _timed(http, [replica_root + u for u in list_urls[:50] + detail_urls[:50]], headers)
                before = _routed(replica_app)
                times: dict[tuple[str, str], list[float]] = {}
                for start in range(0, requests, BATCH):
                    for label, root in (("primary", primary_root), (phase, replica_root)):
                        for kind, urls in (("list", list_urls), ("detail", detail_urls)):
                            times.setdefault((label, kind), []).extend(
                                await _timed(http, [root + u for u in urls[start:start + BATCH]], headers))
                routed = {k: v - before.get(k, 0) for k, v in _routed(replica_app).items() if v != before.get(k, 0)}
                for (label, kind), values in times.items():
                    print(f"  {label:8} {kind:6} {_summary(values)}")
                print(f"  ({phase} set-up routed: {routed})")
    finally:
        standby.resume_replay()
        await primary_app.cleanup()
        await replica_app.cleanup()
        await conn.close()


def _routed(runner: web.AppRunner) -> dict:
    from service import keys
    router = runner.app[keys.DB].router
    return {} if router is None else {f"{t}/{r}": n for (t, r), n in router.reads.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    from service.db.embedded import EmbeddedPostgres
    from service.topology.standby import Standby
    work = Path(tempfile.mkdtemp(prefix="cj-replica-bench-"))
    primary = EmbeddedPostgres(work / "pgdata", delete_on_stop=True).start()
    standby = Standby(primary.uri("postgres"), work / "standby", run_as=primary.system_user)
    try:
        standby.create().start().wait_streaming()
        asyncio.run(_bench(primary, standby, args.posts, args.requests))
    finally:
        standby.destroy()
        primary.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
