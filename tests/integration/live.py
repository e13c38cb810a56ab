"""A real service process and real outside tools, for the tests that need them both
(a Prometheus that scrapes it, a browser that opens its status page).

`served(...)` runs `run.py serve` exactly as an operator would, on the test
session's database; `require_tool(...)` finds a system binary or ends the test: a
failure in CI (`.ci/run` installs it, so missing means the CI set-up is broken), a
skip elsewhere, naming the Debian package either way.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def rss_of(pid: int) -> int:
    """A process's resident set size in bytes (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_tool(*names: str, package: str) -> str:
    """The path of the first of `names` on PATH; else fail (CI) or skip (elsewhere) naming `package`."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    message = f"{' or '.join(names)} not found: install the Debian package {package} (.ci/run does, as root)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, what: str, timeout: float = 30.0, interval: float = 0.2):
    """Poll `check()` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError) as exc:      # not listening yet, half-written answer
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last error: {last_error!r})")


@dataclass
class Service:
    port: int
    process: subprocess.Popen

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None,
             timeout: float = 10.0) -> tuple[int, object]:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def user(self, *, admin: bool = False, database_url: str | None = None) -> tuple[str, str, str]:
        """(email, password, token) of a new account; `admin` needs `database_url` to promote it."""
        email, password = f"live-{secrets.token_hex(5)}@example.com", "password-123"
        status, body = self.call("POST", "/api/auth/register", body={"email": email, "password": password})
        assert status == 201, body
        if admin:
            assert database_url, "promoting an admin needs the database URL"
            async def promote() -> None:
                conn = await asyncpg.connect(database_url)
                try:
                    await conn.execute("UPDATE users SET is_admin = true WHERE lower(email) = lower($1)", email)
                finally:
                    await conn.close()
            asyncio.run(promote())
        status, body = self.call("POST", "/api/auth/login", body={"email": email, "password": password})
        assert status == 200, body
        return email, password, body["access_token"]


@contextmanager
def served(database_url: str, var_dir: Path, **env: str) -> Iterator[Service]:
    """`run.py serve` (one worker) on `database_url`, ready to answer; stopped with SIGTERM after the block."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "VAR_DIR": str(var_dir),
                   "SECRET_KEY": "live-test-" + "k" * 32, "DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "4", "LOG_LEVEL": "WARNING",
                   # Failed logins and registrations are kept in the session's database per address,
                   # and every live server is 127.0.0.1: the fuzz run's wrong passwords and the suite's
                   # accounts must not lock later tests out (test_login_throttle.py and
                   # test_password_work.py set their own limits and addresses).
                   "LOGIN_MAX_FAILURES": "100000", "REGISTER_MAX_PER_ADDRESS": "1000000",
                   **env}
    log = (var_dir / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "run.py", "serve"], cwd=ROOT, env=environment,
                               stdout=log, stderr=subprocess.STDOUT)
    service = Service(port, process)
    try:
        def ready():
            assert process.poll() is None, (var_dir / "serve.log").read_text()
            return service.call("GET", "/api/health/ready", timeout=2)[0] == 200
        wait_until(ready, "run.py serve to be ready", timeout=45)
        yield service
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not end within `timeout` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
