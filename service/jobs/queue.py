"""The queue's moving parts that are not a worker: wake-ups over LISTEN, backoff, results.

Wake-ups: the jobs table's trigger (migration 0020) sends NOTIFY cj_jobs when an
enqueuing transaction commits. Each worker process LISTENs on one dedicated
connection to DATABASE_DIRECT_URL (a pooled connection would carry the LISTEN to
whichever request takes it next, and PgBouncer's transaction mode cannot keep one),
reconnecting with backoff by itself. A notification only wakes the claim loop up:
the claim itself is `FOR UPDATE SKIP LOCKED` on the table, and the loop also polls
(JOBS_POLL_INTERVAL_S) and sleeps no longer than the next retry is due, so a lost
notification delays a job, never loses it.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import random

import asyncpg

from service.db.server import PING

log = logging.getLogger(__name__)

CHANNEL = "cj_jobs"
HEARTBEAT_S = 5.0
# Results are stored in chunks of this size (bytea rows of job_result_chunks).
CHUNK_BYTES = 1024 * 1024


def backoff_s(attempt: int, base_s: float, max_s: float, rand: random.Random | None = None) -> float:
    """Delay before retrying after failed attempt number `attempt` (1-based):
    exponential (base x 2^(attempt-1), capped at max) with "equal jitter" - between
    half and all of it - so workers that failed together do not retry together, and
    the wait still grows with every attempt."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return ceiling / 2 + (rand or random).uniform(0, ceiling / 2)


class Wakeups:
    """NOTIFY cj_jobs -> an asyncio.Event, over a dedicated connection."""

    def __init__(self, dsn: str, event: asyncio.Event) -> None:
        self.dsn = dsn
        self.event = event
        self.connected = asyncio.Event()
        self.notifications = 0
        self._task: asyncio.Task | None = None
        self._conn: asyncpg.Connection | None = None

    async def start(self, wait: float = 5.0) -> None:
        self._task = asyncio.create_task(self._run(), name="jobs-wakeups")
        try:
            await asyncio.wait_for(asyncio.shield(self.connected.wait()), wait)
        except TimeoutError:
            log.warning("jobs: LISTEN connection not up yet; polling every JOBS_POLL_INTERVAL_S meanwhile")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def _on_notify(self, conn, pid: int, channel: str, payload: str) -> None:
        self.notifications += 1
        self.event.set()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            lost = asyncio.Event()
            try:
                self._conn = await asyncpg.connect(self.dsn, timeout=5,
                                                   server_settings={"application_name": "cj-jobs-listener"})
                self._conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await self._conn.add_listener(CHANNEL, self._on_notify)
                self.connected.set()
                self.event.set()        # anything enqueued while we were away
                backoff = 0.1
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), HEARTBEAT_S)
                    except TimeoutError:
                        await self._conn.fetchval(PING.text, timeout=HEARTBEAT_S)
            except asyncio.CancelledError:
                await self._close()
                raise
            except Exception as exc:
                log.warning("jobs: LISTEN connection lost (%s); polling until it reconnects", exc)
            self.connected.clear()
            await self._close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()


class ResultWriter:
    """Writes a result as chunks inside the transaction that will mark the job succeeded,
    holding at most one chunk in memory, and hashing as it goes."""

    def __init__(self, tx, job, content_type: str, filename: str) -> None:
        self.tx = tx
        self.job = job
        self.content_type = content_type
        self.filename = filename
        self.size = 0
        self.rows: int | None = None
        self._seq = 0
        self._buffer = bytearray()
        self._sha = hashlib.sha256()

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            await self._store(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    async def _store(self, piece: bytes) -> None:
        from service.store import jobs
        await jobs.store_chunk(self.tx, job_id=self.job.id, attempt=self.job.attempt, seq=self._seq, data=piece)
        self._sha.update(piece)
        self.size += len(piece)
        self._seq += 1

    async def close(self) -> None:
        """Store the rest and record the result (once per job)."""
        from service.store import jobs
        if self._buffer:
            await self._store(bytes(self._buffer))
            self._buffer.clear()
        await jobs.store_result(self.tx, job_id=self.job.id, attempt=self.job.attempt,
                                content_type=self.content_type, filename=self.filename, size=self.size,
                                rows=self.rows, sha256=self._sha.hexdigest())
