"""What README.md promises a newcomer about the commands, checked against a real run (probe-readme)."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_probe_lifecycle import ROOT, _env, _in_its_posts_copy, _start_seed, _stop_and_clean

from service.settings import SettingsError, load_settings


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
        # as bash starts `cmd &` without job control: SIGINT ignored
        process = _start_seed(env, "seed@example.com", 1000000,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        pid, _ = _in_its_posts_copy(process, pgdata)
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
        _stop_and_clean(process, var_dir)


# Whole-number settings README gives no upper bound; each is reported by an admin health GET.
UNBOUNDED_WHOLE_NUMBERS = ("DB_POOL_RECYCLE", "DB_USER_CONCURRENCY", "CACHE_SHORT_TTL", "CACHE_MEDIUM_TTL",
                           "CACHE_LONG_TTL", "CACHE_MAX_SIZE", "CACHE_MAX_BYTES", "OFFSET_THRESHOLD",
                           "N_PLUS_ONE_THRESHOLD")
ADMIN_GETS = ("/api/health/database", "/api/health/database/events", "/api/health/cache", "/api/health/profiling",
              "/api/health/profiling/queries", "/api/health/profiling/slow-queries", "/api/health/full",
              "/api/health/jobs")


@pytest.mark.parametrize("variable", UNBOUNDED_WHOLE_NUMBERS)
def test_a_whole_number_setting_too_large_for_json_stops_start_up(tmp_path, variable):
    """README, Configuration: a bad value stops start-up with one line naming the variable.
    CACHE_SHORT_TTL=100000000000000000000 (or DB_POOL_RECYCLE, CACHE_MAX_SIZE, ...) was
    accepted, and every admin health GET that reports it then answered 500 (orjson:
    "Integer exceeds 64-bit range"): /api/health/full, /database, /cache."""
    with pytest.raises(SettingsError) as caught:
        load_settings({"VAR_DIR": str(tmp_path), variable: str(10**20)})
    assert str(caught.value).startswith(f"{variable}: must be at most ")


async def test_the_largest_whole_number_settings_are_reported_by_the_health_gets(settings, make_api):
    """At the bound every report the operator reads still answers (no 500)."""
    largest = {variable: str(2**53 - 1) for variable in UNBOUNDED_WHOLE_NUMBERS}
    loaded = load_settings({"VAR_DIR": str(settings.var_dir), **largest})
    api = await make_api(settings.replace(**{field: getattr(loaded, field) for field in (
        "db_pool_recycle", "db_user_concurrency", "cache_short_ttl", "cache_medium_ttl", "cache_long_ttl",
        "cache_max_size", "cache_max_bytes", "offset_threshold", "n_plus_one_threshold")}))
    admin = await api.user(admin=True)
    await api.get("/api/posts", admin)
    await api.get("/api/posts?page=3", admin)
    for path in ADMIN_GETS:
        await api.get(path, admin)


def test_serve_on_port_zero_prints_the_port_every_worker_shares():
    """README, Configuration: PORT (and --port) take 0..65535, and `run.py serve` prints the URL
    it serves on. With port 0 it printed http://127.0.0.1:0, and with --workers 2 each worker
    bound a free port of its own: two ports, neither printed, instead of N processes on one."""
    import re
    import urllib.request

    var_dir = Path(tempfile.mkdtemp(prefix="cj-probe-readme-"))
    process = subprocess.Popen([sys.executable, "run.py", "serve", "--port", "0", "--workers", "2"], cwd=ROOT,
                               env=_env(var_dir), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = process.stdout.readline()
        found = re.match(r"Content Jumpstart API on http://127\.0\.0\.1:(\d+)$", banner.strip())
        assert found, banner
        port = int(found.group(1))
        assert port != 0, banner
        pids = set()
        deadline = time.monotonic() + 120
        while len(pids) < 2 and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/live", timeout=5) as answer:
                    pids.add(json.loads(answer.read())["worker"]["pid"])
            except OSError:          # the workers are still starting
                time.sleep(0.1)
        assert len(pids) == 2, f"only worker(s) {pids} answered on port {port}"
    finally:
        _stop_and_clean(process, var_dir, graceful_s=90)


def test_serve_on_an_ipv6_address_prints_a_url_that_works():
    """`run.py serve --host ::1` printed http://::1:PORT, which no client parses (an IPv6
    literal in a URL is written in brackets); the README's first step is to copy that URL."""
    import re
    import urllib.request
    from urllib.parse import urlsplit

    from test_probe_lifecycle import _free_port

    var_dir = Path(tempfile.mkdtemp(prefix="cj-probe-readme-"))
    port = _free_port()
    process = subprocess.Popen([sys.executable, "run.py", "serve", "--host", "::1", "--port", str(port)], cwd=ROOT,
                               env=_env(var_dir), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        found = re.match(r"Content Jumpstart API on (\S+)$", process.stdout.readline().strip())
        assert found
        url = found.group(1)
        assert url == f"http://[::1]:{port}" and urlsplit(url).port == port, url
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health/live", timeout=5) as answer:
                    assert answer.status == 200
                    break
            except OSError:          # still starting
                assert time.monotonic() < deadline, f"nothing answered on {url}"
                time.sleep(0.1)
    finally:
        _stop_and_clean(process, var_dir, graceful_s=90)


@pytest.mark.skipif(shutil.which("pgbouncer") is None, reason="needs the Debian package pgbouncer")
def test_topology_prints_each_start_up_warning_as_a_line():
    """`run.py topology` printed its start-up warnings as a Python list,
    `warning: ['the serving role \\'postgres\\' has superuser, …']`: _prepare_to_serve
    returns a list of warnings, which the runner printed as one."""
    directory = Path(tempfile.mkdtemp(prefix="cj-probe-readme-topology-"))
    process = subprocess.Popen([sys.executable, "run.py", "topology", "--port", "0", "--pgbouncer-port", "0",
                                "--no-replica", "--no-prometheus", "--dir", str(directory)], cwd=ROOT,
                               env=_env(directory / "var"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    lines = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\\n"))
            if line.startswith("Ctrl-C"):
                break
        assert any(line.startswith("Ctrl-C") for line in lines), lines
        warnings = [line for line in lines if line.strip().startswith("warning:")]
        assert all(not line.strip().startswith("warning: [") for line in warnings), warnings
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.returncode == 0
        shutil.rmtree(directory, ignore_errors=True)
