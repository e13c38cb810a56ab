"""Background jobs: sql/jobs/ (the queue, results, outbox, workers, exports and reports)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import asyncpg

from service.db.registry import query
from service.store.lists import list_queries

LIST = list_queries("jobs")
BY_IDEMPOTENCY_KEY = query("jobs/by_idempotency_key")
CANCEL = query("jobs/cancel")
CLAIM = query("jobs/claim")
DEPTH = query("jobs/depth")
EXPORT_COUNT = query("jobs/export_count")
EXPORT_POSTS = query("jobs/export_posts")
FAIL = query("jobs/fail")
GET = query("jobs/get")
HEARTBEAT = query("jobs/heartbeat")
INSERT = query("jobs/insert")
INSERT_CHUNK = query("jobs/insert_chunk")
INSERT_OUTBOX = query("jobs/insert_outbox")
INSERT_RESULT = query("jobs/insert_result")
INSERT_SCHEDULED = query("jobs/insert_scheduled")
LOCK_OWNER = query("jobs/lock_owner")
MARK_CANCELLED = query("jobs/mark_cancelled")
NEXT_DUE = query("jobs/next_due")
STORED_RESULT_BYTES = query("jobs/stored_result_bytes")
NOTICE_CONTACT = query("jobs/notice_contact")
PRUNE = query("jobs/prune")
QUEUE_GAUGES = query("jobs/queue_gauges")
QUEUE_READ_LIMITS = query("jobs/queue_read_limits")
PRUNE_WORKERS = query("jobs/prune_workers")
RECENT_FAILURES = query("jobs/recent_failures")
RELEASE = query("jobs/release")
RELEASE_IDEMPOTENCY_KEY = query("jobs/release_idempotency_key")
RELEASE_NOTICE_KEY = query("jobs/release_notice_key")
REPORT = query("jobs/report")
RESCUE = query("jobs/rescue")
RESULT = query("jobs/result")
RESULT_CHUNKS = query("jobs/result_chunks")
RUNNING = query("jobs/running")
SUCCEED = query("jobs/succeed")
WORKER_BEAT = query("jobs/worker_beat")
WORKER_STOPPED = query("jobs/worker_stopped")
WORKERS = query("jobs/workers")


def list_filters(owner_id: UUID | None, *, status: str | None = None, kind: str | None = None) -> dict[str, Any]:
    """The filter block of every jobs list query."""
    return {"owner_id": owner_id, "status": status, "kind": kind}


def detail(row: asyncpg.Record) -> dict:
    """A job row (jobs/get.sql, the list files) as the API shows it."""
    job = dict(row)
    job["progress"] = {"done": job.pop("progress_done"), "total": job.pop("progress_total")}
    result = {k: job.pop(f"result_{k}") for k in ("content_type", "bytes", "rows", "sha256")}
    job["result"] = result if result["sha256"] is not None else None
    return job


# Enqueueing (in the caller's transaction) ------------------------------------------

async def enqueue(db, *, owner_id: UUID | None, kind: str, project_id: UUID | None, params: dict[str, Any],
                  max_attempts: int, idempotency_key: str | None = None) -> tuple[UUID, bool]:
    """(job id, created): a new job, or the first one this owner made with the same
    Idempotency-Key in the last 24 hours (created False)."""
    if idempotency_key is not None:
        await db.execute(RELEASE_IDEMPOTENCY_KEY, owner_id=owner_id, idempotency_key=idempotency_key)
    while True:
        job_id = await db.fetchval(INSERT, owner_id=owner_id, kind=kind, project_id=project_id,
                                   params=params, max_attempts=max_attempts,
                                   idempotency_key=idempotency_key)
        if job_id is not None:
            return job_id, True
        # The key is taken: ON CONFLICT waited for the transaction holding it to commit,
        # and this statement's new snapshot sees that job, unless it was deleted in
        # between (its project, its owner or its retention went): then the key is free
        # again and the insert is tried anew (each try sees a newer snapshot).
        existing = await db.fetchval(BY_IDEMPOTENCY_KEY, owner_id=owner_id, idempotency_key=idempotency_key)
        if existing is not None:
            return existing, False


async def lock_owner(tx, owner_id: UUID) -> None:
    """Serialise this owner's capped enqueues until `tx` ends (sql/jobs/lock_owner.sql):
    the transaction's first statement, before any row lock."""
    await tx.execute(LOCK_OWNER, owner_id=owner_id)


async def enqueue_scheduled(db, *, kind: str, params: dict[str, Any], dedupe_key: str,
                            max_attempts: int) -> UUID | None:
    """A job of the service itself, once per dedupe key; None when that key was already enqueued."""
    return await db.fetchval(INSERT_SCHEDULED, kind=kind, params=params,
                             dedupe_key=dedupe_key, max_attempts=max_attempts)


# The API ------------------------------------------------------------------------------

async def get(db, job_id: UUID, owner_id: UUID | None) -> asyncpg.Record | None:
    return await db.fetchrow(GET, id=job_id, owner_id=owner_id)


async def cancel(db, job_id: UUID, owner_id: UUID | None) -> bool:
    """Whether the job was queued or running (and is now cancelled, or flagged to stop)."""
    return await db.fetchval(CANCEL, id=job_id, owner_id=owner_id) is not None


async def result(db, job_id: UUID, owner_id: UUID | None) -> asyncpg.Record | None:
    """The job's status and its result's description (NULL columns until it succeeded)."""
    return await db.fetchrow(RESULT, id=job_id, owner_id=owner_id)


async def result_chunks(db, job_id: UUID, attempt: int, from_seq: int, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(RESULT_CHUNKS, job_id=job_id, attempt=attempt, from_seq=from_seq, limit=limit)


# Workers ----------------------------------------------------------------------------

async def claim(db, *, worker_id: str, limit: int, newcomers_only: bool = False) -> list[asyncpg.Record]:
    return await db.fetch(CLAIM, worker_id=worker_id, limit=limit, newcomers_only=newcomers_only)


async def heartbeat(db, *, job_id: UUID, worker_id: str, attempt: int, done: int,
                    total: int | None) -> bool | None:
    """Whether cancellation was asked for; None when this attempt no longer holds the job."""
    return await db.fetchval(HEARTBEAT, id=job_id, worker_id=worker_id, attempt=attempt, progress_done=done,
                             progress_total=total)


async def succeed(db, *, job_id: UUID, worker_id: str, attempt: int, done: int, total: int | None,
                  despite_cancel: bool = False) -> str:
    """"succeeded", "cancelled" (asked for meanwhile: nothing changed) or "lost" (not held any more).
    `despite_cancel`: work that cannot be undone succeeds even when cancellation was asked for."""
    row = await db.fetchrow(SUCCEED, id=job_id, worker_id=worker_id, attempt=attempt, progress_done=done,
                            progress_total=total, despite_cancel=despite_cancel)
    if row["cancel_requested"] is None:
        return "lost"
    return "succeeded" if row["id"] is not None else "cancelled"


async def fail(db, *, job_id: UUID, worker_id: str, attempt: int, error: str, retry_in_s: float,
               final: bool = False, error_detail: str | None = None) -> str | None:
    """The job's new status (queued for a retry, failed, or cancelled); None if it was no longer held.
    `final`: failed for good, whatever attempts remain (a retry would fail the same way).
    `error` is what the owner reads; `error_detail` the operators' whole text."""
    return await db.fetchval(FAIL, id=job_id, worker_id=worker_id, attempt=attempt, error=error,
                             retry_in_s=retry_in_s, final=final, error_detail=error_detail)


async def stored_result_bytes(db, *, owner_id: UUID, retention_hours: int) -> asyncpg.Record:
    """(bytes, oldest_expires_in_s) of the owner's stored results."""
    return await db.fetchrow(STORED_RESULT_BYTES, owner_id=owner_id, retention_hours=retention_hours)


async def mark_cancelled(db, *, job_id: UUID, worker_id: str, attempt: int) -> bool:
    return await db.fetchval(MARK_CANCELLED, id=job_id, worker_id=worker_id, attempt=attempt) is not None


async def release(db, *, job_id: UUID, worker_id: str, attempt: int) -> bool:
    return await db.fetchval(RELEASE, id=job_id, worker_id=worker_id, attempt=attempt) is not None


async def rescue(db, *, stale_after_s: float) -> list[asyncpg.Record]:
    return await db.fetch(RESCUE, stale_after_s=stale_after_s)


async def next_due_in(db) -> float | None:
    return await db.fetchval(NEXT_DUE)


async def store_result(db, *, job_id: UUID, attempt: int, content_type: str, filename: str, size: int,
                       rows: int | None, sha256: str) -> bool:
    return await db.fetchval(INSERT_RESULT, job_id=job_id, attempt=attempt, content_type=content_type,
                             filename=filename, bytes=size, rows=rows, sha256=sha256) is not None


async def store_chunk(db, *, job_id: UUID, attempt: int, seq: int, data: bytes) -> None:
    await db.execute(INSERT_CHUNK, job_id=job_id, attempt=attempt, seq=seq, data=data)


async def notice_contact(db, *, project_id: UUID) -> asyncpg.Record | None:
    """project_name, project_status, client_name, client_email of a project as they are now
    (the project's row share-locked until `db`'s transaction ends)."""
    return await db.fetchrow(NOTICE_CONTACT, project_id=project_id)


async def release_notice_key(db, *, job_id: UUID) -> None:
    await db.execute(RELEASE_NOTICE_KEY, id=job_id)


async def keep_in_outbox(db, *, job_id: UUID, to_address: str, subject: str, body: str) -> bool:
    """False when this job's message is already kept."""
    return await db.fetchval(INSERT_OUTBOX, job_id=job_id, to_address=to_address, subject=subject,
                             body=body) is not None


async def worker_beat(db, *, worker_id: str, pid: int, host: str, concurrency: int) -> None:
    await db.execute(WORKER_BEAT, id=worker_id, pid=pid, host=host, concurrency=concurrency)


async def worker_stopped(db, *, worker_id: str) -> None:
    await db.execute(WORKER_STOPPED, id=worker_id)


# Tasks ------------------------------------------------------------------------------

async def export_count(db, *, project_id: UUID, status: str | None, platform: str | None) -> int:
    return await db.fetchval(EXPORT_COUNT, project_id=project_id, status=status, platform=platform)


def export_posts(session, *, project_id: UUID, status: str | None, platform: str | None,
                 batch_size: int | Callable[[], int]) -> AsyncIterator[list[asyncpg.Record]]:
    """The export's posts in (created_at, id) order, in batches, from one snapshot
    (a server-side cursor: `session` must be inside a transaction). `batch_size`: rows
    per fetch, or a callable asked before each fetch."""
    return session.batches(EXPORT_POSTS, batch_size, project_id=project_id, status=status, platform=platform)


async def report(db, *, project_id: UUID, templates: int) -> bytes:
    """The project's report as JSON text (one statement: one snapshot), naming the
    `templates` most used templates."""
    return (await db.fetchval(REPORT, project_id=project_id, templates=templates)).encode()


async def prune(db, *, retention_hours: int, batch: int, max_bytes: int) -> int:
    """Finished jobs deleted, oldest first (their results go with them): at most `batch` of
    them and, after the first, `max_bytes` of results."""
    status = await db.execute(PRUNE, retention_hours=retention_hours, batch=batch, max_bytes=max_bytes)
    return int(status.rsplit(" ", 1)[-1])


async def prune_workers(db, *, retention_hours: int) -> None:
    await db.execute(PRUNE_WORKERS, retention_hours=retention_hours)


# Operations ---------------------------------------------------------------------------

async def depth(db) -> list[asyncpg.Record]:
    return await db.fetch(DEPTH)


async def queue_gauges(db) -> asyncpg.Record:
    """(oldest_due_s: None when no queued job is due, recent_failures): the queue's alerting
    gauges (GET /metrics, GET /api/health/jobs)."""
    return await db.fetchrow(QUEUE_GAUGES)


async def limit_queue_read(session) -> None:
    """Within a transaction: its statements give up on a held lock or a slow scan (GET /metrics)."""
    await session.fetchrow(QUEUE_READ_LIMITS)


async def running(db, limit: int = 50) -> list[asyncpg.Record]:
    return await db.fetch(RUNNING, limit=limit)


async def recent_failures(db, limit: int = 20) -> list[asyncpg.Record]:
    return await db.fetch(RECENT_FAILURES, limit=limit)


async def workers(db) -> list[asyncpg.Record]:
    return await db.fetch(WORKERS)
