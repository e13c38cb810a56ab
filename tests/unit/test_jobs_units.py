"""Pure pieces of the jobs: the retry backoff and the CSV cell rules."""
from __future__ import annotations

import random

from service.jobs.queue import backoff_s
from service.jobs.tasks.exports import _csv_cell, csv_rows, neutralise


def test_backoff_grows_exponentially_with_jitter_in_the_upper_half_and_is_capped():
    rand = random.Random(7)
    for attempt in range(1, 8):
        ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
        delays = [backoff_s(attempt, 2.0, 60.0, rand) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 100          # jittered, not one value
    assert backoff_s(30, 2.0, 60.0) <= 60.0


def test_cells_that_look_like_formulas_are_neutralised():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralise(start + "x") == "'" + start + "x"
    assert neutralise("plain") == "plain" and neutralise("") == ""
    assert _csv_cell(["a", "b"]) == "a;b" and _csv_cell(None) == "" and _csv_cell(True) == "true"
    assert _csv_cell(["=x"]) == "'=x"


def test_csv_rows_quote_as_rfc_4180():
    row = {name: None for name in ("id", "project_id", "run_id", "created_at", "status", "target_platform",
                                   "template_name", "word_count", "readability_score", "has_cta", "flags")}
    row.update(flags=[], has_cta=False, content='say "hi", then\r\nbye')
    assert csv_rows([row]).endswith(b',"say ""hi"", then\r\nbye"\r\n')


def test_a_jobs_owner_reads_the_replies_to_the_notice_not_the_relays_greeting():
    """The SMTP server's replies to the notice are the owner's to read; its greeting (a
    connect reply, which can name the relay's host) is the operators'."""
    import aiosmtplib
    import asyncpg

    from service.jobs.queue import FailedForGood, owner_error
    assert owner_error(aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no", "a@b.c")])) is None
    assert owner_error(aiosmtplib.SMTPDataError(554, "rejected")) is None
    assert owner_error(asyncpg.QueryCanceledError("canceling statement due to statement timeout")) is None
    assert owner_error(FailedForGood("over the bound")) is None
    greeting = owner_error(aiosmtplib.SMTPConnectResponseError(554, "mx.internal.example not accepting"))
    assert greeting.startswith("SMTPConnectResponseError") and "mx.internal" not in greeting
    assert "7.7.7.7" not in owner_error(OSError("connect to 7.7.7.7:5432 failed"))


async def test_a_job_task_cancelled_before_it_first_ran_gives_its_slot_back():
    """A task cancelled before its first step never enters its coroutine, so the finally of
    Worker._run that frees the job's slot never ran: the worker would have run one job
    fewer at a time for the rest of its life (beat() cancels the task of a job it lost)."""
    import asyncio
    from uuid import uuid4

    from service.jobs.worker import Worker
    from service.settings import Settings

    worker = Worker(None, Settings(), tasks={"export": lambda job: asyncio.sleep(0)})
    job_id = uuid4()
    worker._start({"id": job_id, "kind": "export", "owner_id": uuid4(), "project_id": uuid4(), "params": {},
                   "attempts": 1, "max_attempts": 5, "cancel_requested": False, "pickup_s": 0.0})
    task = worker.running[job_id].task
    task.cancel()                                   # before the loop ever ran it
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)                          # done callbacks run on the next turn
    assert worker.running == {}
