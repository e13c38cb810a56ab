"""What README.md promises a newcomer about the commands, checked against a real run (probe-readme)."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from test_probe_lifecycle import ROOT, _env, _postmaster, _wait_for_posts_copy


def test_sigterm_stops_a_seed_started_as_a_background_job():
    """README, Commands: SIGTERM stops `seed` as Ctrl-C does (exit code 130, the open
    transaction rolls back). SIGTERM was re-sent as SIGINT, but a background job of a
    shell script (`python run.py seed ... &`) starts with SIGINT ignored, and asyncio.run
    then leaves it ignored: the SIGTERM did nothing, and a seed of 1,000,000 posts sent
    SIGTERM 10 s in ran on for 146 s, committed everything and exited 0."""
    var_dir = Path(tempfile.mkdtemp(prefix="cj-probe-readme-"))   # the server's user must reach it
    pgdata = var_dir / "pgdata"
    env = _env(var_dir)
    process = None
    try:
        made = subprocess.run([sys.executable, "run.py", "create-user", "--email", "seed@example.com", "--password",
                               "a long passphrase", "--admin"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=180)
        assert made.returncode == 0, made.stderr
        process = subprocess.Popen([sys.executable, "run.py", "seed", "--clients", "1", "--projects", "1",
                                    "--posts", "1000000"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True,
                                   # as bash starts `cmd &` without job control
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        deadline = time.monotonic() + 120
        while _postmaster(pgdata) is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        pid, url = _postmaster(pgdata)
        asyncio.run(_wait_for_posts_copy(url, process))
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            stdout, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("the seed was still loading 20 s after SIGTERM") from None
        assert process.returncode == 130 and "Traceback" not in stderr, stderr
        assert "seeded" not in stdout and time.monotonic() - sent < 20
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists(), "the embedded PostgreSQL outlived the seed"
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        left = _postmaster(pgdata)
        if left is not None and Path(f"/proc/{left[0]}").exists():
            os.kill(left[0], signal.SIGQUIT)    # only the server this test started, on its own directory
        shutil.rmtree(var_dir, ignore_errors=True)
