"""The service's life cycle and command line under faults: a port already taken, a
migration slower than the statement timeout, an interrupted seed."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "XDG_RUNTIME_DIR", "PORT", "HOST", "WORKERS", "SECRET_KEY")
           and not k.startswith(("DB_", "CACHE_", "JOBS_"))}
    env.update(VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", **extra)
    return env


def test_serve_with_workers_on_a_port_in_use_exits_non_zero(database_url, tmp_path):
    """Every worker dies at start (the port is taken): the supervisor gives up after its
    bounded restarts, and the command must say so with a failing status, or a process
    manager (systemd's Restart=on-failure) takes the failed start for a clean stop."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "run.py", "serve", "--workers", "2", "--port", str(port)], cwd=ROOT,
                              env=_env(tmp_path, DATABASE_URL=database_url, JOBS_WORKER="false"),
                              capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "address already in use" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: the worker processes kept dying")
