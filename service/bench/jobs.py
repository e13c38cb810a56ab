"""Job benchmarks (issue 10): `python run.py bench --scenario jobs [--posts N]`, or
`python -m service.bench.jobs [--posts N] [--jobs N]`.

On a scratch database (embedded PostgreSQL in a temporary directory, or a
`<name>_jobs_bench` database on DATABASE_URL's server), with one in-process worker:
- export: N posts (default 100,000) as CSV; rows/s and the growth of this process's
  peak RSS during the export (the worker's memory is bounded by one batch and one chunk);
- small jobs: N report jobs of an empty project (default 1,000), enqueued one at a
  time by a separate connection; pickup latency (due -> claimed, p50/p99) and jobs/s.
Prints the figures; writes nothing else.
"""
from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _bench(url: str, posts: int, small_jobs: int, concurrency: int) -> None:
    from service.db.database import Database
    from service.db.migrations import migrate
    from service.db.pool import Pool
    from service.jobs.metrics import JobMetrics
    from service.jobs.worker import Worker
    from service.settings import Settings
    from service.store.seed import analyze, seed

    settings = Settings(database_url=url, secret_key="bench", db_pool_size=4, db_max_overflow=4,
                        jobs_concurrency=concurrency, jobs_poll_interval_s=1.0, profiling_enabled=False)
    async with Database.connect(url, settings) as db:
        await migrate(db)
        conn = db.pool.conn
        owner = await conn.fetchval("INSERT INTO users (email, password_hash, is_admin) "
                                    "VALUES ('bench@example.com', 'x', true) RETURNING id")
        started = time.perf_counter()
        await seed(db, owner_id=owner, clients=1, projects=1, posts=posts, show_progress=False)
        await analyze(db)
        print(f"seeded {posts:,} posts in {time.perf_counter() - started:.1f} s")
    conn = await asyncpg.connect(url)
    project = await conn.fetchval("SELECT id FROM projects LIMIT 1")
    client = await conn.fetchval("SELECT client_id FROM projects LIMIT 1")
    empty = await conn.fetchval("INSERT INTO projects (owner_id, client_id, name) VALUES ($1, $2, 'empty') "
                                "RETURNING id", owner, client)

    pool = Pool(url, settings)
    await pool.open()
    metrics = JobMetrics()
    worker = Worker(Database(pool), settings, metrics=metrics)
    await worker.start()
    try:
        rss_before = _peak_rss_mb()
        started = time.perf_counter()
        job = await conn.fetchval("INSERT INTO jobs (owner_id, kind, project_id, params) VALUES "
                                  "($1, 'export', $2, '{\"format\": \"csv\"}') RETURNING id", owner, project)
        while (await conn.fetchval("SELECT status FROM jobs WHERE id = $1", job)) not in ("succeeded", "failed"):
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        size = await conn.fetchval("SELECT bytes FROM job_results WHERE job_id = $1", job)
        print(f"export: {posts:,} posts, {size / 2**20:.1f} MiB CSV in {elapsed:.2f} s = {posts / elapsed:,.0f} rows/s;"
              f" peak RSS {rss_before:.0f} -> {_peak_rss_mb():.0f} MB (growth {_peak_rss_mb() - rss_before:.1f} MB)")

        ids = []
        started = time.perf_counter()
        for _ in range(small_jobs):
            ids.append(await conn.fetchval("INSERT INTO jobs (owner_id, kind, project_id) VALUES "
                                           "($1, 'report', $2) RETURNING id", owner, empty))
        while await conn.fetchval("SELECT count(*) FROM jobs WHERE id = ANY($1) AND status <> 'succeeded'", ids):
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        latencies = sorted((await conn.fetch(
            "SELECT extract(epoch FROM started_at - created_at)::float8 AS s FROM jobs WHERE id = ANY($1)", ids)),
            key=lambda r: r["s"])
        values = [r["s"] * 1000 for r in latencies]
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(f"throughput: {small_jobs:,} reports enqueued back to back, concurrency {concurrency}: "
              f"{small_jobs / elapsed:,.0f} jobs/s (queue wait p50 {statistics.median(values):.1f} ms, "
              f"p99 {p99:.1f} ms: the backlog, not the pickup)")

        # Pickup on an idle queue: one job at a time, enqueue -> claimed (NOTIFY wake-up).
        waits = []
        for _ in range(200):
            job = await conn.fetchval("INSERT INTO jobs (owner_id, kind, project_id) VALUES "
                                      "($1, 'report', $2) RETURNING id", owner, empty)
            while (await conn.fetchval("SELECT status FROM jobs WHERE id = $1", job)) != "succeeded":
                await asyncio.sleep(0.005)
            waits.append(await conn.fetchval(
                "SELECT extract(epoch FROM started_at - created_at)::float8 * 1000 FROM jobs WHERE id = $1", job))
        waits.sort()
        print(f"pickup latency, idle queue, 200 jobs one at a time: p50 {statistics.median(waits):.1f} ms, "
              f"p99 {waits[int(len(waits) * 0.99) - 1]:.1f} ms, max {waits[-1]:.1f} ms")
    finally:
        await worker.stop()
        await pool.close()
        await conn.close()


def run_jobs_bench(settings, *, posts: int = 100_000, jobs: int = 1000, concurrency: int = 2) -> None:
    """`run.py bench --scenario jobs`: the same figures, on the bench's own database
    (DATABASE_URL's server, or an embedded one in a temporary directory)."""
    from service.bench.database import bench_server
    with tempfile.TemporaryDirectory(prefix="cj-jobs-bench-") as work, bench_server(settings, Path(work)) as url:
        asyncio.run(_bench(url, posts, jobs, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    from service.db.embedded import EmbeddedPostgres, ensure_database
    workdir = Path(tempfile.mkdtemp(prefix="cj-jobs-bench-"))
    server = EmbeddedPostgres(workdir / "pgdata", delete_on_stop=True).start()
    try:
        name = f"jobs_bench_{secrets.token_hex(3)}"
        asyncio.run(ensure_database(server.uri("postgres"), name))
        asyncio.run(_bench(server.uri(name), args.posts, args.jobs, args.concurrency))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
