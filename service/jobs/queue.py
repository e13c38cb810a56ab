"""The queue's moving parts that are not a worker: wake-ups over LISTEN, backoff, results.

Wake-ups: the jobs table's trigger (migration 0020) sends NOTIFY cj_jobs when an
enqueuing transaction commits. Each worker process LISTENs on one dedicated
connection to DATABASE_DIRECT_URL (db/listener.py), reconnecting by itself. A
notification only wakes the claim loop up: the claim itself is `FOR UPDATE SKIP LOCKED` on the table, and the loop also polls
(JOBS_POLL_INTERVAL_S) and sleeps no longer than the next retry is due, so a lost
notification delays a job, never loses it.
"""
from __future__ import annotations

import asyncio
import hashlib
import random

import aiosmtplib
import asyncpg

from service.db.listener import Listener
from service.settings import Settings

CHANNEL = "cj_jobs"
# Results are stored in chunks of this size (bytea rows of job_result_chunks).
CHUNK_BYTES = 1024 * 1024


def backoff_s(attempt: int, base_s: float, max_s: float, rand: random.Random | None = None) -> float:
    """Delay before retrying after failed attempt number `attempt` (1-based):
    exponential (base x 2^(attempt-1), capped at max) with "equal jitter" - between
    half and all of it - so workers that failed together do not retry together, and
    the wait still grows with every attempt."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return ceiling / 2 + (rand or random).uniform(0, ceiling / 2)


class Wakeups(Listener):
    """NOTIFY cj_jobs -> an asyncio.Event, over a dedicated connection."""
    channel = CHANNEL
    application_name = "cj-jobs-listener"
    lost_message = "jobs: LISTEN connection lost; polling every JOBS_POLL_INTERVAL_S until it reconnects"

    def __init__(self, dsn: str, event: asyncio.Event, settings: Settings | None = None) -> None:
        super().__init__(dsn, settings)
        self.event = event

    def on_notify(self, payload: str) -> None:
        self.event.set()

    async def on_up(self) -> None:
        self.event.set()        # anything enqueued while we were away


class FailedForGood(Exception):
    """A task's failure that a retry would repeat: the job fails at once, attempts left or not.
    Its text is written for the job's owner, who reads it whole (owner_error)."""


def owner_error(exc: BaseException) -> str | None:
    """What the job's owner reads of a failure, when it differs from the whole text: None
    for failures written for them (FailedForGood), an SMTP server's replies to their notice,
    and a statement timeout; otherwise the exception's class alone. The whole text could
    name the database server's host and port (a lost connection) or the service's internals
    (a bug): operators read it in /api/health/jobs and the log."""
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        pass            # the relay's greeting, or no answer: about the service's relay, not the notice
    elif isinstance(exc, FailedForGood | aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused
                    | asyncpg.QueryCanceledError):
        return None
    return f"{type(exc).__name__} (an internal error; the operators have the details)"


class ResultOverBudget(FailedForGood):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the result passes the {limit:,} bytes its owner may still keep "
                         "(JOBS_MAX_RESULT_BYTES_PER_USER, less the results already stored)")


class ResultWriter:
    """Writes a result as chunks inside the transaction that will mark the job succeeded,
    holding at most one chunk in memory, and hashing as it goes; `limit`: the most bytes
    it may take (quota.result_room), else ResultOverBudget."""

    def __init__(self, tx, job, content_type: str, filename: str, limit: int | None = None) -> None:
        self.tx = tx
        self.job = job
        self.content_type = content_type
        self.filename = filename
        self.limit = limit
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
        if self.limit is not None and self.size + len(piece) > self.limit:
            raise ResultOverBudget(self.limit)
        await jobs.store_chunk(self.tx, job_id=self.job.id, attempt=self.job.attempt, seq=self._seq, data=piece)
        self._sha.update(piece)
        self.size += len(piece)
        self._seq += 1

    async def finish(self) -> None:
        """Mark the job succeeded (job.succeed: JobLost or JobCancelled roll everything back),
        then store the rest and record the result (once per job). In that order: the job's
        row is locked before the result's row is inserted, so an attempt frozen or cut off
        while inserting it holds the job too, and the rescue (SKIP LOCKED) passes it by. The
        other way round, a rescued attempt's new result waited on the frozen one's
        uncommitted row (job_results' primary key) for as long as that connection lived."""
        from service.store import jobs
        await self.job.succeed(self.tx)
        if self._buffer:
            await self._store(bytes(self._buffer))
            self._buffer.clear()
        await jobs.store_result(self.tx, job_id=self.job.id, attempt=self.job.attempt,
                                content_type=self.content_type, filename=self.filename, size=self.size,
                                rows=self.rows, sha256=self._sha.hexdigest())
