"""`run.py topology`: the production topology on this machine, without Docker
(service/topology/onebox.py)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from service.settings import Settings


def add_parser(commands) -> None:
    topology = commands.add_parser(
        "topology", help="run primary + replica + PgBouncer + 2 instances + Prometheus on this machine",
        description="Start an embedded PostgreSQL primary (data kept in --dir), a streaming replica of it "
                    "(pg_basebackup, fresh on every start), PgBouncer in transaction mode, two `run.py serve` "
                    "instances through it and Prometheus scraping both with deploy/'s config and alert rules; "
                    "print the URLs; stop everything on Ctrl-C or SIGTERM. Needs the Debian packages pgbouncer "
                    "and (optional) prometheus.")
    topology.add_argument("--dir", type=Path, help="data and logs (default VAR_DIR/topology)")
    topology.add_argument("--port", type=_port(65534), default=8080,
                          help="instance 1's port; instance 2 listens on the next one (0: any free ports; default 8080)")
    topology.add_argument("--pgbouncer-port", type=_port(65535), default=6432, help="PgBouncer's port (0: any; default 6432)")
    topology.add_argument("--prometheus-port", type=_port(65535), default=9090, help="Prometheus's port (0: any; default 9090)")
    topology.add_argument("--scrape-interval", type=_duration, default="15s", help="Prometheus scrape interval (default 15s)")
    topology.add_argument("--no-replica", action="store_true", help="run without the streaming replica")
    topology.add_argument("--no-prometheus", action="store_true", help="run without Prometheus")
    topology.set_defaults(handler=cmd_topology)


# Checked before anything starts: a bad value used to start the primary, the replica,
# PgBouncer and instance 1 before a later part refused it (instance 2 on --port + 1 past
# 65535, Prometheus on a scrape interval without a unit), then stop them all again.
def _port(highest: int):
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {raw!r}") from None
        if not 0 <= value <= highest:
            raise argparse.ArgumentTypeError(f"must be 0 (any free port) to {highest}, got {value}")
        return value
    return parse


# Prometheus's duration: one or more <number><unit>, largest unit first (1m30s).
_DURATION = re.compile(r"(?:[0-9]+y)?(?:[0-9]+w)?(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?(?:[0-9]+ms)?")


def _duration(raw: str) -> str:
    if not raw or not _DURATION.fullmatch(raw) or not re.search(r"[1-9]", raw):
        raise argparse.ArgumentTypeError(f"must be a Prometheus duration such as 15s or 1m30s, got {raw!r}")
    return raw


def cmd_topology(settings: Settings, args: argparse.Namespace) -> int:
    from service.cli.environment import CommandError
    from service.topology.onebox import Options, run
    from service.topology.pgbouncer import PgBouncerMissing, pgbouncer_binary
    try:
        pgbouncer_binary()
    except PgBouncerMissing as exc:
        raise CommandError(str(exc)) from None
    directory = (args.dir or settings.var_dir / "topology").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    options = Options(directory=directory, port=args.port, pgbouncer_port=args.pgbouncer_port,
                      prometheus_port=args.prometheus_port, scrape_interval=args.scrape_interval,
                      replica=not args.no_replica, prometheus=not args.no_prometheus)
    return run(settings, options)
