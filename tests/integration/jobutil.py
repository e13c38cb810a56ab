"""Helpers of the jobs tests: settings with a fast worker, waiting on a job, posts in bulk, a held lock."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import asyncpg

FINISHED = ("succeeded", "failed", "cancelled")


def worker_settings(settings, **changes):
    """A worker that notices things quickly (the machine is shared: deadlines stay generous)."""
    return settings.replace(**{"jobs_worker": True, "jobs_rescue_after_s": 2.0, "jobs_poll_interval_s": 0.5,
                               "jobs_backoff_base_s": 0.1, "jobs_backoff_max_s": 1.0, **changes})


async def wait_for(predicate, timeout: float = 60.0, what: str = "condition", interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_job(api, user, job_id: str, statuses=FINISHED, timeout: float = 60.0) -> dict:
    async def check():
        job = await api.get(f"/api/jobs/{job_id}", user)
        return job if job["status"] in statuses else None
    return await wait_for(check, timeout, f"job {job_id} to be {'/'.join(statuses)}")


async def job_row(database_url: str, job_id: str):
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchrow("SELECT * FROM jobs WHERE id = $1::uuid", job_id)
    finally:
        await conn.close()


async def insert_posts(conn, owner_id: str, project_id: str, count: int, content_size: int = 50) -> None:
    """Posts straight into the table, in bursts sharing one created_at (the id breaks ties)."""
    await conn.execute("""
        INSERT INTO posts (owner_id, project_id, content, word_count, readability_score, status,
                           target_platform, template_name, flags, created_at)
        SELECT $1::uuid, $2::uuid, 'post ' || g || ' ' || repeat('x', $4), 2 + g % 7, (g % 100)::float8,
               CASE WHEN g % 3 = 0 THEN 'flagged' ELSE 'approved' END,
               (ARRAY['linkedin', 'twitter', 'facebook', 'blog'])[1 + g % 4],
               'template-' || (g % 5), CASE WHEN g % 3 = 0 THEN ARRAY['long', 'tone'] ELSE '{}' END,
               timestamptz '2026-01-01' + (g / 5) * interval '1 second'
        FROM generate_series(1, $3) AS g""", owner_id, project_id, count, content_size)


@asynccontextmanager
async def held_lock(database_url: str, statement: str):
    """A transaction holding a table lock until the block ends (to stop a job at a known point)."""
    conn = await asyncpg.connect(database_url)
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(statement)
        yield conn
    finally:
        await tx.rollback()
        await conn.close()


async def chunk_insert_waiting(conn) -> int:
    """Backends whose INSERT of a result chunk waits for a lock: an export (or report) held at
    its chunk, not any other writer of the table (the worker's maintenance job deletes old
    results; the spare slot may run it beside the export). The statistics snapshot is
    cleared first: `conn` may be inside a transaction (the lock's), which keeps its first."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return await conn.fetchval("""SELECT count(*) FROM pg_stat_activity
                                   WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO job_result_chunks%'""")
