"""One owner's share of the queue: at most JOBS_MAX_ACTIVE_PER_USER jobs queued or running,
and at most JOBS_MAX_RESULT_BYTES_PER_USER bytes of finished results kept (result_room).

A user who enqueues without end would otherwise grow the queue without end. The claim
(sql/jobs/claim.sql) already keeps such a backlog from delaying anyone else's jobs;
this bound keeps the backlog itself finite: past it, the request is refused with 429
and Retry-After, and a job that finishes, fails for good or is cancelled frees a place.

The check runs in the enqueuing request's transaction, right after the INSERT; that
transaction's first statement took a transaction-level advisory lock on the owner
(sql/jobs/lock_owner.sql), so the count here sees every job the owner's concurrent
requests inserted before, and racing requests cannot overshoot the cap. The lock comes
before any row lock: taken after the foreign key's lock on the project row, it would
deadlock with a PATCH that holds that row and enqueues a delivery email. A
request over it raises, and its transaction (the job with it) rolls back. A repeated
request (an Idempotency-Key that already names one of the owner's jobs) makes no job
and is answered as before, also at the cap.

Jobs the service enqueues itself (maintenance) are not refused. A delivery email counts
towards its owner's jobs, and the owner's own project write that enqueues it is refused
past the cap like an export (tasks/emails.py: one notice per project, to an address the
owner chose, was otherwise a queue and a mail relay without bound); an admin's write on
another user's project is not refused for that user's jobs.
"""
from __future__ import annotations

from uuid import UUID

from service.errors import TooManyRequests
from service.store import jobs

# A job takes seconds to minutes: a client told to come back sooner would only be refused again.
RETRY_AFTER_S = 5


async def active(tx, owner_id: UUID, cap: int) -> int:
    """The owner's queued and running jobs, each status counted up to `cap` rows (the jobs
    list's count, sql/jobs/count.sql, over jobs_active_owner_turn_idx: a few index entries)."""
    total = 0
    for status in ("queued", "running"):
        total += await tx.fetchval(jobs.LIST.count, owner_id=owner_id, status=status, kind=None, cap=cap)
    return total


async def require_room(tx, *, owner_id: UUID, cap: int) -> None:
    """After inserting a job in `tx`: raise 429 (rolling the job back) when the owner now has
    more than `cap` jobs queued or running."""
    if await active(tx, owner_id, cap + 1) > cap:
        raise TooManyRequests(f"too many jobs: {cap} of yours are queued or running (JOBS_MAX_ACTIVE_PER_USER); "
                              "another can be enqueued once one of them finishes or is cancelled",
                              retry_after=RETRY_AFTER_S)


# Stored results: without a bound one user kept 60 exports (131 MiB) within 15 s with a
# queue cap of 5, and keeps them JOBS_RETENTION_HOURS (168 h): the database's disk is
# everyone's. An enqueue over the bound is refused (429, Retry-After: until the oldest
# result is deleted); an export that would pass it while it runs fails for good
# (queue.ResultWriter), since a retry would fail the same way.

def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MiB"


async def require_result_room(tx, *, owner_id: UUID, cap: int, retention_hours: int) -> None:
    """Before enqueuing: raise 429 when the owner's stored results already take `cap` bytes."""
    if not cap:
        return
    stored = await jobs.stored_result_bytes(tx, owner_id=owner_id, retention_hours=retention_hours)
    if stored["bytes"] >= cap:
        wait = max(RETRY_AFTER_S, stored["oldest_expires_in_s"] or RETRY_AFTER_S)
        raise TooManyRequests(f"your stored job results take {_mib(stored['bytes'])}, the most a user may keep "
                              f"({_mib(cap)}, JOBS_MAX_RESULT_BYTES_PER_USER); the oldest is deleted in {wait} s "
                              f"({retention_hours} h after its job finished)", retry_after=wait)


async def result_room(tx, *, owner_id: UUID | None, cap: int, retention_hours: int) -> int | None:
    """The bytes a new result of the owner may take (None: no bound)."""
    if not cap or owner_id is None:
        return None
    stored = await jobs.stored_result_bytes(tx, owner_id=owner_id, retention_hours=retention_hours)
    return max(0, cap - stored["bytes"])
