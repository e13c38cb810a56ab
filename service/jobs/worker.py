"""The job worker: claim, run, heartbeat, rescue, retry, schedule maintenance, stop gracefully.

One Worker per process (run.py serve starts one unless JOBS_WORKER=false;
run.py worker runs one without HTTP). It runs up to JOBS_CONCURRENCY jobs at once,
and one more (the spare slot) only for an owner with nothing running while all are busy:

- claim: `FOR UPDATE SKIP LOCKED` (sql/jobs/claim.sql), so two workers never claim
  the same job, and fair across owners (owners with fewer jobs running first, then
  turns, migration 0150), so one owner's backlog delays no one else's job; woken by
  NOTIFY (queue.Wakeups), by a finished job, by the next retry coming due, or at the
  latest every JOBS_POLL_INTERVAL_S;
- heartbeat: every JOBS_RESCUE_AFTER_S / 3 each running job's heartbeat and progress
  are written, and whether its cancellation was asked for is read back; a job this
  worker no longer holds (rescued meanwhile) is stopped;
- rescue: every beat, running jobs of any worker without a heartbeat for
  JOBS_RESCUE_AFTER_S are queued again (or failed past their attempts);
- a task's result is written in the transaction that marks the job succeeded, and
  only while this attempt holds the job, so a job re-run after a rescue stores its
  result once;
- failure: retried after an exponential backoff with jitter, up to max_attempts,
  the last error kept;
- maintenance: each beat enqueues the maintenance job of the current
  JOBS_MAINTENANCE_INTERVAL_S slot under a unique key, so every worker of every
  instance asks and one job per slot exists;
- stop (SIGTERM): no new claims; running jobs get `grace_s` to finish, then are
  interrupted and given back (queued again, the attempt not counted).
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from service.context import current_task
from service.db.database import Database
from service.jobs.queue import FailedForGood, Wakeups, backoff_s, owner_error
from service.settings import Settings
from service.store import jobs

log = logging.getLogger(__name__)


# The spare slot's claim is asked at most this often while every slot is busy.
SPARE_CLAIM_EVERY_S = 0.5
# Ids of the jobs a worker started that it remembers (Worker.ran, for tests and the bench):
# the latest ones only. A worker runs for months, and a list of every id it ever ran grew
# by 80 bytes a job, never freed (a user's stream of small reports, ~300 jobs/s, is about
# 86 MB an hour).
RECENT_JOBS_KEPT = 1000


class JobCancelled(Exception):
    """Raised at a checkpoint when the job's cancellation was asked for."""


class JobLost(Exception):
    """This attempt no longer holds the job (it was rescued meanwhile): stop, store nothing."""


@dataclass
class Job:
    """A claimed job as a task sees it."""
    id: UUID
    kind: str
    owner_id: UUID | None
    project_id: UUID | None
    params: dict[str, Any]
    attempt: int
    max_attempts: int
    worker_id: str
    db: Database
    settings: Settings
    done: int = 0
    total: int | None = None
    cancel_requested: bool = False
    lost: bool = False
    task: asyncio.Task | None = field(default=None, repr=False)

    def checkpoint(self) -> None:
        """Where a task may stop: cancelled or lost jobs end here."""
        if self.lost:
            raise JobLost(f"job {self.id} was taken from this worker")
        if self.cancel_requested:
            raise JobCancelled(f"job {self.id} cancelled")

    async def succeed(self, tx, *, despite_cancel: bool = False) -> None:
        """Mark the job succeeded inside the transaction that wrote its result. Raises
        (and so rolls that result back) JobLost when this attempt no longer holds the
        job, JobCancelled when its cancellation was asked for meanwhile, unless
        `despite_cancel` (its work is done and cannot be undone, as a sent email)."""
        outcome = await jobs.succeed(tx, job_id=self.id, worker_id=self.worker_id, attempt=self.attempt,
                                     done=self.done, total=self.total, despite_cancel=despite_cancel)
        if outcome == "lost":
            raise JobLost(f"job {self.id} was taken from this worker before it finished")
        if outcome == "cancelled":
            raise JobCancelled(f"job {self.id} cancelled before it finished")


Task = Callable[[Job], Awaitable[None]]


def _tasks() -> dict[str, Task]:
    from service.jobs.tasks import emails, exports, maintenance, reports
    return {"export": exports.run, "report": reports.run, "email": emails.run, "maintenance": maintenance.run}


class Worker:
    def __init__(self, db: Database, settings: Settings, *, metrics=None, grace_s: float = 10.0,
                 tasks: dict[str, Task] | None = None) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics           # observability.metrics.JobMetrics or None
        self.grace_s = grace_s
        self.tasks = tasks or _tasks()
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.concurrency = settings.jobs_concurrency
        self.running: dict[UUID, Job] = {}
        self.ran: deque[UUID] = deque(maxlen=RECENT_JOBS_KEPT)   # the latest job ids it started
        self.maintenance_enqueued = 0
        self.maintenance_asked = 0
        self.beat_s = max(0.2, min(5.0, settings.jobs_rescue_after_s / 3))
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._wakeups = Wakeups(settings.direct_url, self._wakeup, settings) if settings.direct_url else None
        self._loops: list[asyncio.Task] = []
        self._last_slot: int | None = None
        self._spare_asked_at = 0.0

    async def start(self) -> None:
        await jobs.worker_beat(self.db, worker_id=self.id, pid=os.getpid(), host=socket.gethostname(),
                               concurrency=self.concurrency)
        if self._wakeups is not None:
            await self._wakeups.start()
        self._loops = [asyncio.create_task(self._claim_loop(), name=f"jobs-claim-{self.id}"),
                       asyncio.create_task(self._beat_loop(), name=f"jobs-beat-{self.id}")]
        log.info("job worker %s started (concurrency %d)", self.id, self.concurrency)

    async def stop(self) -> None:
        """Stop claiming; let running jobs finish for grace_s, then give them back."""
        self._stopping.set()
        self._wakeup.set()
        claim_loop = self._loops[0] if self._loops else None
        if claim_loop is not None:
            await asyncio.gather(claim_loop, return_exceptions=True)
        running = [job.task for job in self.running.values() if job.task is not None]
        if running:
            _, pending = await asyncio.wait(running, timeout=self.grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for loop in self._loops[1:]:
            loop.cancel()
        await asyncio.gather(*self._loops[1:], return_exceptions=True)
        self._loops = []
        if self._wakeups is not None:
            await self._wakeups.stop()
        try:
            await jobs.worker_stopped(self.db, worker_id=self.id)
        except Exception as exc:           # the database may be the reason we stop
            log.warning("job worker %s: could not record its stop (%s)", self.id, exc)
        log.info("job worker %s stopped", self.id)

    # Claiming ---------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        current_task.set(("job-worker", self.id))
        while not self._stopping.is_set():
            timeout = self.settings.jobs_poll_interval_s
            try:
                free = self.concurrency - len(self.running)
                self._wakeup.clear()
                # The spare slot: every slot is busy (long exports, say), so one more job is
                # taken, only of an owner with nothing running anywhere. A running job keeps
                # its slot, so without it a newcomer's small report waited for the first of
                # those exports to end (16.6 s behind two of 150,000 posts at concurrency 2);
                # a slot kept free instead would halve one user's throughput. Asked at most
                # every SPARE_CLAIM_EVERY_S: a full worker would otherwise query on every
                # NOTIFY of every enqueue.
                wait = SPARE_CLAIM_EVERY_S - (time.monotonic() - self._spare_asked_at)
                spare = free == 0 and wait <= 0
                if free == 0 and not spare:
                    timeout = min(timeout, wait)
                if spare:
                    self._spare_asked_at = time.monotonic()
                if free > 0 or spare:
                    claimed = await jobs.claim(self.db, worker_id=self.id, limit=max(free, 1),
                                               newcomers_only=spare)
                    for row in claimed:
                        self._start(row)
                    if claimed and len(claimed) == free:
                        continue                # maybe more work: claim again once a slot frees
                    due = await jobs.next_due_in(self.db)
                    if due is not None and due > 0:
                        timeout = min(timeout, due)
            except Exception as exc:
                log.warning("job worker %s: claim failed (%s); retrying", self.id, exc)
                timeout = min(timeout, 1.0)
            if self._stopping.is_set():
                return
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except TimeoutError:
                pass

    def _start(self, row) -> None:
        job = Job(id=row["id"], kind=row["kind"], owner_id=row["owner_id"], project_id=row["project_id"],
                  params=row["params"], attempt=row["attempts"], max_attempts=row["max_attempts"],
                  worker_id=self.id, db=self.db, settings=self.settings,
                  cancel_requested=row["cancel_requested"])
        self.running[job.id] = job
        self.ran.append(job.id)
        if self.metrics is not None and job.attempt == 1:
            self.metrics.picked_up(job.kind, row["pickup_s"])
        job.task = asyncio.create_task(self._run(job), name=f"job-{job.kind}-{job.id}")
        # Also when the task is cancelled before its first step (beat() cancelling a job it
        # lost): the coroutine is never entered then, nor the finally of _run that frees the
        # slot, and the worker would run one job fewer at a time for the rest of its life.
        job.task.add_done_callback(lambda _task, job_id=job.id: self._free(job_id))

    def _free(self, job_id: UUID) -> None:
        if self.running.pop(job_id, None) is not None:
            self._wakeup.set()

    # Running ----------------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        current_task.set((f"job:{job.kind}", str(job.id)))      # this task's context only
        outcome = "failed"
        started = time.perf_counter()
        try:
            task = self.tasks.get(job.kind)
            if task is None:
                raise RuntimeError(f"no task for job kind {job.kind!r}")
            job.checkpoint()
            await task(job)
            outcome = "succeeded"
        except JobCancelled:
            outcome = "cancelled"
            await self._settle(jobs.mark_cancelled(self.db, job_id=job.id, worker_id=self.id, attempt=job.attempt))
        except JobLost as exc:
            outcome = "lost"
            log.warning("job %s (%s): %s; its result, if any, was not stored", job.id, job.kind, exc)
        except asyncio.CancelledError:
            if job.lost:
                outcome = "lost"
            else:
                outcome = "released"
                await self._settle(jobs.release(self.db, job_id=job.id, worker_id=self.id, attempt=job.attempt))
            raise
        except Exception as exc:
            delay = backoff_s(job.attempt, self.settings.jobs_backoff_base_s, self.settings.jobs_backoff_max_s)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            shown = owner_error(exc)
            status = await self._settle(jobs.fail(self.db, job_id=job.id, worker_id=self.id, attempt=job.attempt,
                                                  error=shown or error, error_detail=shown and error,
                                                  retry_in_s=delay, final=isinstance(exc, FailedForGood)))
            outcome = "retried" if status == "queued" else (status or "lost")
            log.warning("job %s (%s) attempt %d/%d failed: %s%s", job.id, job.kind, job.attempt, job.max_attempts,
                        error, f"; retry in {delay:.2f} s" if status == "queued" else "")
        finally:
            self._free(job.id)
            if self.metrics is not None:
                self.metrics.finished(job.kind, outcome, time.perf_counter() - started)

    async def _settle(self, update: Awaitable[Any]) -> Any:
        """Record an outcome even while this task is being cancelled (shutdown)."""
        try:
            return await asyncio.shield(update)
        except Exception as exc:
            log.warning("job outcome not recorded (%s); the rescue will re-queue the job", exc)
            return None

    # Heartbeats, rescue, maintenance -----------------------------------------------

    async def _beat_loop(self) -> None:
        current_task.set(("job-worker", self.id))
        while True:
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job worker %s: heartbeat failed (%s)", self.id, exc)
            await asyncio.sleep(self.beat_s)

    async def beat(self) -> None:
        await jobs.worker_beat(self.db, worker_id=self.id, pid=os.getpid(), host=socket.gethostname(),
                               concurrency=self.concurrency)
        for job in list(self.running.values()):
            cancel = await jobs.heartbeat(self.db, job_id=job.id, worker_id=self.id, attempt=job.attempt,
                                          done=job.done, total=job.total)
            if cancel is None:
                if job.id in self.running and not job.lost:
                    job.lost = True
                    if job.task is not None:
                        job.task.cancel()
            elif cancel:
                job.cancel_requested = True
        rescued = await jobs.rescue(self.db, stale_after_s=self.settings.jobs_rescue_after_s)
        for row in rescued:
            log.warning("job %s had no heartbeat from worker %s for %.0f s: %s", row["id"], row["worker_id"],
                        self.settings.jobs_rescue_after_s,
                        "queued again" if row["status"] == "queued" else row["status"])
        if rescued:
            self._wakeup.set()
        await self.schedule_maintenance()

    async def schedule_maintenance(self) -> None:
        interval = self.settings.jobs_maintenance_interval_s
        slot = int(time.time() // interval)
        if slot == self._last_slot:
            return
        self.maintenance_asked += 1
        job_id = await jobs.enqueue_scheduled(self.db, kind="maintenance", params={"slot": slot},
                                              dedupe_key=f"maintenance:{interval:g}:{slot}",
                                              max_attempts=self.settings.jobs_max_attempts)
        self._last_slot = slot
        if job_id is not None:
            self.maintenance_enqueued += 1
