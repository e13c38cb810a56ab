"""Serving: one process, or N worker processes sharing the port (SO_REUSEPORT).

Each worker is a fresh interpreter (spawn, not fork: no inherited event loop,
pool or embedded-server handle) with its own pool, cache and invalidation feed;
caches stay coherent through NOTIFY. The supervisor forwards SIGINT/SIGTERM,
restarts a worker that dies unexpectedly, and returns when all have stopped.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path

from service.http.serving import SHUTDOWN_TIMEOUT_S
from service.observability.logs import configure_logging
from service.settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10.0
# How long a worker's graceful stop may take, which the supervisor waits before it kills
# one: requests in flight (aiohttp waits SHUTDOWN_TIMEOUT_S for them, then cancels them and
# waits as long again), then the job grace, then a margin for closing the pools. Killed at
# SHUTDOWN_GRACE_S, a worker still finishing requests never gave its running jobs back:
# they stayed `running` until the rescue, their attempt counted.
WORKER_STOP_S = 2 * SHUTDOWN_TIMEOUT_S + SHUTDOWN_GRACE_S + 5.0


def raise_open_file_limit() -> int | None:
    """Raise this process's soft limit of open descriptors (RLIMIT_NOFILE) to its hard
    limit, and log it: every client connection is a descriptor, and systemd's default
    soft limit (1024) is soon reached. Returns the soft limit now in force (None where
    there are no rlimits). Called by every process that serves or runs jobs."""
    try:
        import resource
    except ImportError:                      # not a POSIX system
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        # Linux refuses an infinite RLIMIT_NOFILE: fs.nr_open is the most it takes.
        try:
            target = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            target = 1024 * 1024
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("open files limit stays at %d (could not raise it to %d: %s)", soft, target, exc)
            return soft
        log.info("open files limit raised from %d to %d (the hard limit)", soft, target)
        return target
    log.info("open files limit: %s", "unlimited" if soft == resource.RLIM_INFINITY else soft)
    return soft


def run_server(settings: Settings, *, reuse_port: bool = False) -> None:
    raise_open_file_limit()
    from service.app import create_app
    from service.http import serving
    serving.run(create_app(settings), settings, reuse_port=reuse_port)


def _worker_main(settings: Settings, supervisor_pid: int) -> None:
    _stop_with(supervisor_pid)
    configure_logging(settings)
    run_server(settings, reuse_port=True)


_PR_SET_PDEATHSIG = 1


def _stop_with(supervisor_pid: int) -> None:
    """A supervisor killed outright (SIGKILL, the OOM killer) forwards nothing: its workers
    served the port for ever, and a restarted service shared it with them (SO_REUSEPORT),
    its callers answered by the old code at random. So Linux sends this worker SIGTERM
    (a graceful stop) when the supervisor dies; one already gone means exit now."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):      # not Linux: no such guard
        return
    if os.getppid() != supervisor_pid:
        raise SystemExit(0)


def serve(settings: Settings) -> int:
    """Serve until stopped; the exit status (1: the workers kept dying)."""
    if settings.workers <= 1:
        run_server(settings)
        return 0
    return Supervisor(settings).run()


class Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[multiprocessing.Process] = []
        self.stopping = False

    def _start_worker(self, index: int) -> multiprocessing.Process:
        process = self.context.Process(target=_worker_main, args=(self.settings, os.getpid()), name=f"worker-{index}")
        process.start()
        return process

    def _request_stop(self, signum, _frame) -> None:
        self.stopping = True

    def run(self) -> int:
        """Supervise until SIGINT/SIGTERM (0) or until workers die too often (1)."""
        failed = False
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.workers = [self._start_worker(i) for i in range(self.settings.workers)]
            log.info("started %d workers: %s", len(self.workers), [w.pid for w in self.workers])
            restarts: list[float] = []
            while not self.stopping:
                time.sleep(0.2)
                for index, worker in enumerate(self.workers):
                    if worker.is_alive() or self.stopping:
                        continue
                    # Bounded restarts: a worker that cannot start should not spin.
                    now = time.monotonic()
                    restarts = [t for t in restarts if now - t < 60] + [now]
                    if len(restarts) > 5:
                        # A non-zero status: a port already in use made every worker die at
                        # start, and the service exited 0 after a minute of restarts, so a
                        # process manager took the failed start for a clean stop.
                        log.error("workers keep dying (exit code %s); stopping", worker.exitcode)
                        failed = self.stopping = True
                        break
                    log.warning("worker pid %s exited with %s; starting a new one", worker.pid, worker.exitcode)
                    self.workers[index] = self._start_worker(index)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if failed else 0

    def _stop_all(self) -> None:
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()          # SIGTERM: aiohttp shuts down gracefully
        deadline = time.monotonic() + WORKER_STOP_S
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.kill()
                worker.join(2)
