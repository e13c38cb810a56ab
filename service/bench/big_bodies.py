"""Liveness under the largest bodies (issue 15): `python -m service.bench.big_bodies`.

Seeds a scratch database (as `run.py bench` does), starts `run.py serve` (one worker),
then measures GET /api/health/live one request at a time: first alone, then while
three clients keep posting the largest body the service accepts (8 MiB: a bulk of
1,000 posts). Prints p50, p99 and max of the liveness answers in both phases and how
many bulks were stored. The figures go in the README ("Limits").
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

from service.http.body import MAX_BODY_BYTES


def largest_bulk(project_id: str) -> bytes:
    """{"items": [1000 posts]} just under MAX_BODY_BYTES."""
    envelope = len(orjson.dumps({"items": [{"project_id": project_id, "content": ""}] * 1000}))
    per_post = (MAX_BODY_BYTES - envelope - 1024) // 1000
    words = ("growth " * (per_post // 7 + 1))[:per_post]
    body = orjson.dumps({"items": [{"project_id": project_id, "content": words}] * 1000})
    assert len(body) <= MAX_BODY_BYTES, len(body)
    return body


async def _liveness(session: aiohttp.ClientSession, base: str, seconds: float) -> list[float]:
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        async with session.get(base + "/api/health/live") as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)
    return latencies


async def _poster(session: aiohttp.ClientSession, base: str, token: str, body: bytes, stop: asyncio.Event) -> int:
    stored = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while not stop.is_set():
        async with session.post(base + "/api/posts", data=body, headers=headers) as resp:
            await resp.read()
            stored += resp.status == 201
    return stored


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{len(ordered)} answers, p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, "
            f"max {ordered[-1]:.1f} ms")


async def _measure(base: str, email: str, password: str, seconds: float, clients: int) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        async with session.post(base + "/api/auth/login", json={"email": email, "password": password}) as resp:
            token = (await resp.json())["access_token"]
        async with session.get(base + "/api/projects?page_size=1",
                               headers={"Authorization": f"Bearer {token}"}) as resp:
            project_id = (await resp.json())["items"][0]["id"]
        body = largest_bulk(project_id)
        print(f"alone:                          {_summary(await _liveness(session, base, seconds))}")
        stop = asyncio.Event()
        posters = [asyncio.create_task(_poster(session, base, token, body, stop)) for _ in range(clients)]
        busy = await _liveness(session, base, seconds)
        stop.set()
        stored = sum(await asyncio.gather(*posters))
        print(f"{clients} clients posting {len(body) / 2**20:.2f} MiB: {_summary(busy)}; {stored} bulks of 1,000 "
              "posts stored")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.bench.big_bodies", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase (default 15)")
    parser.add_argument("--clients", type=int, default=3, help="clients posting large bodies (default 3)")
    args = parser.parse_args(argv)

    from service.bench.database import bench_server, prepare
    from service.bench.processes import service_process
    from service.settings import load_settings

    settings = load_settings(create_secret=False)
    with tempfile.TemporaryDirectory(prefix="cj-big-bodies-") as work, bench_server(settings, Path(work)) as url:
        seeded = asyncio.run(prepare(url, settings, posts=1000))
        import os
        import secrets
        env = {**{k: v for k, v in os.environ.items() if k not in ("WORKERS", "PORT", "HOST")},
               "DATABASE_URL": url, "VAR_DIR": str(Path(work) / "var"), "SECRET_KEY": secrets.token_urlsafe(32),
               "LOG_LEVEL": "WARNING", "JOBS_WORKER": "false"}
        child = service_process("big-bodies", env, Path(work) / "logs").start()
        try:
            asyncio.run(_measure(child.base_url, seeded.admin_email, seeded.admin_password, args.seconds,
                                 args.clients))
        finally:
            child.stop()


if __name__ == "__main__":
    main()
