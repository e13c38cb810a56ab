"""`run.py serve --workers 2` as real processes: one port, two pids, caches coherent
across them through NOTIFY, and SIGTERM stops them all."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(port: int, method: str, path: str, token: str | None = None, body: dict | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_two_workers_share_the_port_and_stay_coherent(database_url, tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "VAR_DIR": str(tmp_path),
           "SECRET_KEY": "workers-test-" + "k" * 32, "DB_POOL_SIZE": "2", "DB_MAX_OVERFLOW": "2", "LOG_LEVEL": "WARNING",
           # The session's other tests registered from 127.0.0.1 into this database too.
           "REGISTER_MAX_PER_ADDRESS": "1000000"}
    pids: set[int] = set()
    server = subprocess.Popen([sys.executable, "run.py", "serve", "--workers", "2"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(pids) < 2:
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, f"only {pids} answered"
            try:
                status, body = _call(port, "GET", "/api/health")
                if status == 200:
                    pids.add(body["worker"]["pid"])
            except OSError:
                time.sleep(0.2)
        assert pids <= set(_children(server.pid)), "the answering pids are the supervisor's workers"

        email = f"w-{os.getpid()}@example.com"
        assert _call(port, "POST", "/api/auth/register", body={"email": email, "password": "password-123"})[0] == 201
        token = _call(port, "POST", "/api/auth/login", body={"email": email, "password": "password-123"})[1]["access_token"]
        client = _call(port, "POST", "/api/clients", token, {"name": "Workers"})[1]
        project = _call(port, "POST", "/api/projects", token, {"client_id": client["id"], "name": "P"})[1]
        listing = f"/api/posts?project_id={project['id']}"
        # Warm the list on every worker (connections land on either), then write once.
        for _ in range(20):
            assert _call(port, "GET", listing, token)[1]["metadata"]["total"] == 0
        assert _call(port, "POST", "/api/posts", token, {"project_id": project["id"], "content": "x y"})[0] == 201
        # Every worker drops its cached list through NOTIFY (the TTL is minutes away):
        # poll until 20 answers in a row, spread over both workers, are post-write.
        deadline = time.monotonic() + 60
        while True:
            answers = [_call(port, "GET", listing, token)[1] for _ in range(20)]
            totals = {a["metadata"]["total"] for a in answers}
            if totals == {1}:
                break
            assert time.monotonic() < deadline, f"a worker still serves the pre-write list: {totals}"
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
        finally:
            server.stdout.close()
    assert server.returncode == 0
    for pid in pids:                       # every worker is gone, not orphaned
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
