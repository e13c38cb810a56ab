"""`python run.py topology` as an operator runs it: a subprocess that starts the primary,
a streaming replica, PgBouncer, two instances and Prometheus, prints where they are,
and stops all of them on SIGTERM, leaving no process and no listening port behind."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import asyncpg
from live import ROOT, Service, require_tool, wait_until
from topology import require_pgbouncer

READY_LINE = "Ctrl-C (or SIGTERM) stops everything."


def summary(output: Path) -> dict[str, str] | None:
    """The `topology up` block as {name: value}, once the runner has printed all of it."""
    text = output.read_text(errors="replace")
    if READY_LINE not in text:
        return None
    block = text[text.index("topology up"):text.index(READY_LINE)].splitlines()[1:]
    return {line[:13].strip(): line[13:].strip() for line in block}


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" in status.read_text()
    except OSError:
        return True


async def replica_has_client(replica_url: str, client_id: str) -> bool:
    conn = await asyncpg.connect(replica_url)
    try:
        assert await conn.fetchval("SELECT pg_is_in_recovery()"), "the replica URL is not a standby"
        return await conn.fetchval("SELECT count(*) FROM clients WHERE id = $1::uuid", client_id) == 1
    finally:
        await conn.close()


def test_run_py_topology_starts_everything_answers_through_both_instances_and_stops_cleanly(tmp_path):
    require_pgbouncer()
    require_tool("prometheus", package="prometheus")
    # The box's data goes outside tmp_path: PostgreSQL and PgBouncer run as the server's
    # account when we are root, and every pytest session started meanwhile (by anyone)
    # resets the shared pytest-of-<user> directory to 0700, which would lock them out.
    box = Path(tempfile.mkdtemp(prefix="cj-onebox-"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "DB_")) and k not in ("XDG_RUNTIME_DIR", "SECRET_KEY", "PORT")}
    env.update(VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING")
    output = tmp_path / "topology.out"
    with output.open("w") as out:
        runner = subprocess.Popen([sys.executable, "run.py", "topology", "--dir", str(box),
                                   "--port", "0", "--pgbouncer-port", "0", "--prometheus-port", "0",
                                   "--scrape-interval", "1s"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    pids: dict[str, int] = {}
    try:
        def up():
            assert runner.poll() is None, output.read_text()
            return summary(output)
        found = wait_until(up, "run.py topology to print its URLs", timeout=240, interval=0.5)
        pids = {name: int(pid) for name, pid in (item.split("=") for item in found["processes"].split())}
        assert set(pids) == {"instance-1", "instance-2", "prometheus", "pgbouncer", "primary", "replica"}, found
        one = Service(int(found["instance 1"].rsplit(":", 1)[1]), runner)
        two = Service(int(found["instance 2"].rsplit(":", 1)[1]), runner)
        ports = [one.port, two.port, int(found["prometheus"].rsplit(":", 1)[1]),
                 int(found["pgbouncer"].split("@127.0.0.1:")[1].split("/")[0])]

        # A request through each instance: the demo admin writes on one, reads on the other.
        email, password = (part.strip() for part in found["demo admin"].split("/"))
        status, login = one.call("POST", "/api/auth/login", body={"email": email, "password": password})
        assert status == 200, login
        token = login["access_token"]
        status, client = one.call("POST", "/api/clients", token, {"name": "One Box Co"})
        assert status == 201, client
        status, read = two.call("GET", f"/api/clients/{client['id']}", token)
        assert status == 200 and read["name"] == "One Box Co", read
        for instance in (one, two):
            assert instance.call("GET", "/api/health/ready")[0] == 200
        # The replica streams from the primary: the new row reaches it.
        wait_until(lambda: asyncio.run(replica_has_client(found["replica"], client["id"])),
                   "the client row on the replica", timeout=60)

        # Prometheus scrapes both instances.
        def both_up():
            with urllib.request.urlopen(found["prometheus"] + "/api/v1/targets", timeout=5) as response:
                targets = json.loads(response.read())["data"]["activeTargets"]
            return sorted(t["scrapeUrl"] for t in targets if t["health"] == "up") == sorted(
                f"{base}/metrics" for base in (one.base, two.base))
        wait_until(both_up, "Prometheus to see both instances up", timeout=60)

        # ...and both instances report the replica available (they route reads to it).
        def replica_available_on_both():
            query = urllib.parse.urlencode({"query": "cj_db_replica_available"})
            with urllib.request.urlopen(found["prometheus"] + "/api/v1/query?" + query, timeout=5) as response:
                result = json.loads(response.read())["data"]["result"]
            return sorted((r["metric"]["instance"], r["value"][1]) for r in result) == sorted(
                (base.removeprefix("http://"), "1") for base in (one.base, two.base))
        wait_until(replica_available_on_both, "cj_db_replica_available 1 from both instances", timeout=60)
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(120)
        except subprocess.TimeoutExpired:
            runner.kill()
            raise
        finally:
            shutil.rmtree(box, ignore_errors=True)
    text = output.read_text()
    assert runner.returncode == 0, text
    assert "topology stopped" in text, text
    left = {name: pid for name, pid in pids.items() if not gone(pid)}
    assert not left, f"still running after the runner stopped: {left}"
    deadline = time.monotonic() + 10          # a closed listener may linger a moment in the kernel
    while any(port_open(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [port for port in ports if port_open(port)], "a port still accepts connections"
