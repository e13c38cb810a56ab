"""Child processes of the benchmark: the service (`run.py serve`) and the ceilings.

Each is started from the repo root with sys.executable, configured through its
environment, logs to a file in the output directory, and is ready when
GET /api/health/live answers 200. Stopping sends SIGINT (Ctrl-C, the service's
clean path), then SIGTERM, then SIGKILL, each with a bounded wait.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90.0


class ProcessFailed(RuntimeError):
    """A child did not start; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChildProcess:
    """One benchmark child listening on 127.0.0.1:port."""

    def __init__(self, label: str, argv: Sequence[str], env: dict[str, str], port: int, log_dir: Path,
                 root: Path = ROOT) -> None:
        self.label = label
        self.root = root            # the checkout it runs from (tenants_ab: another revision's)
        self.argv = list(argv)
        self.env = env
        self.port = port
        self.log_path = log_dir / f"{label}.log"
        self.proc: subprocess.Popen | None = None
        self.peak_rss_mb: dict[int, float] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChildProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        # Its own process group, so a Ctrl-C at the terminal reaches the bench first
        # and the bench stops its children in order.
        self.proc = subprocess.Popen([sys.executable, *self.argv], cwd=self.root, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        url = self.base_url + "/api/health/live"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProcessFailed(f"{self.label} exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ProcessFailed(f"{self.label} was not ready within {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """The process and its descendants (a multi-worker serve forks workers)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            import psutil
            return [self.proc.pid] + [c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)]
        except Exception:
            return [self.proc.pid]

    def cpu_seconds(self) -> float:
        """User + system CPU used so far by this child's processes (from /proc/<pid>/stat)."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def sample_peak_rss(self) -> dict[int, float]:
        """Peak resident memory (VmHWM, MB) of every process of this child, kept per pid."""
        for pid in self.pids():
            peak = vm_hwm_mb(pid)
            if peak is not None:
                self.peak_rss_mb[pid] = max(peak, self.peak_rss_mb.get(pid, 0.0))
        return self.peak_rss_mb

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.sample_peak_rss()
        for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)    # our own group: the serve and its workers
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def service_process(label: str, env: dict[str, str], log_dir: Path, workers: int = 1,
                    root: Path = ROOT) -> ChildProcess:
    port = free_port()
    argv = ["run.py", "serve", "--port", str(port)]
    if workers != 1:
        argv += ["--workers", str(workers)]
    return ChildProcess(label, argv, {**env, "PORT": str(port)}, port, log_dir, root)


def ceiling_process(kind: str, env: dict[str, str], log_dir: Path, *extra: str) -> ChildProcess:
    port = free_port()
    return ChildProcess(f"ceiling-{kind}", ["-m", "service.bench.ceiling", kind, "--port", str(port), *extra],
                        env, port, log_dir)


class Fleet:
    """The children of one benchmark run, by label; remembers each one's peak RSS after it stops."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: dict[str, ChildProcess] = {}
        self.peak_rss_mb: dict[str, dict[int, float]] = {}

    def service(self, label: str, *, workers: int = 1, **env: str) -> ChildProcess:
        """The running service of this label, started on first use with these overrides."""
        if label not in self.running:
            child = service_process(label, {**self.env, **env}, self.log_dir, workers)
            self.running[label] = child.start()
        return self.running[label]

    def ceiling(self, kind: str, *extra: str) -> ChildProcess:
        label = f"ceiling-{kind}"
        if label not in self.running:
            self.running[label] = ceiling_process(kind, self.env, self.log_dir, *extra).start()
        return self.running[label]

    def stop(self, label: str) -> None:
        child = self.running.pop(label, None)
        if child is not None:
            child.stop()
            self.peak_rss_mb[label] = dict(child.peak_rss_mb)

    def stop_all(self) -> None:
        for label in list(self.running):
            self.stop(label)
