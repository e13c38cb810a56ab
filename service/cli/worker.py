"""`run.py worker`: run a job worker without HTTP (issue 10) until SIGTERM or Ctrl-C.

It applies pending migrations first (like serve), opens a pool of its own, and
stops gracefully: no new claims, running jobs get SHUTDOWN_GRACE_S to finish and
are given back (queued again) if they do not.
"""
from __future__ import annotations

import argparse
import asyncio
import signal

from service.cli.environment import database
from service.db import roles
from service.db.database import Database
from service.db.pool import Pool
from service.http import loops
from service.settings import Settings
from service.supervisor import SHUTDOWN_GRACE_S, raise_open_file_limit


async def run_worker(settings: Settings) -> None:
    from service.jobs.worker import Worker
    prepared = await roles.prepare(settings)      # migrate as the owner, as serve does
    if prepared.warning():
        print(f"warning: {prepared.warning()}", flush=True)
    pool = Pool(settings.database_url, settings)
    await pool.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(Database(pool), settings, grace_s=SHUTDOWN_GRACE_S)
    try:
        await worker.start()
        print(f"job worker {worker.id} running {worker.concurrency} at a time; SIGTERM or Ctrl-C stops it",
              flush=True)
        await stop.wait()
        await worker.stop()
    finally:
        await pool.close()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if args.concurrency is not None:          # bounded like JOBS_CONCURRENCY (cli/main.py)
        settings = settings.replace(jobs_concurrency=args.concurrency)
    # A worker needs few connections: its jobs, heartbeats and claims.
    settings = settings.replace(db_pool_size=min(settings.db_pool_size, settings.jobs_concurrency + 2))
    raise_open_file_limit()
    with database(settings) as settings:
        loops.run(run_worker(settings), settings.event_loop)
    return 0
