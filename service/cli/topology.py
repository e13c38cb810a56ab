"""`run.py topology`: the production topology on this machine, without Docker
(service/topology/onebox.py)."""
from __future__ import annotations

import argparse
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
    topology.add_argument("--port", type=int, default=8080,
                          help="instance 1's port; instance 2 listens on the next one (0: any free ports; default 8080)")
    topology.add_argument("--pgbouncer-port", type=int, default=6432, help="PgBouncer's port (0: any; default 6432)")
    topology.add_argument("--prometheus-port", type=int, default=9090, help="Prometheus's port (0: any; default 9090)")
    topology.add_argument("--scrape-interval", default="15s", help="Prometheus scrape interval (default 15s)")
    topology.add_argument("--no-replica", action="store_true", help="run without the streaming replica")
    topology.add_argument("--no-prometheus", action="store_true", help="run without Prometheus")
    topology.set_defaults(handler=cmd_topology)


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
