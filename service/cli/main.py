"""Command line: serve (default) | worker | migrate | seed | create-user | db-url | topology | bench."""
from __future__ import annotations

import argparse
import signal
import sys

from service.cli.data import cmd_create_user, cmd_db_url, cmd_migrate, cmd_seed
from service.cli.environment import CommandError
from service.cli.serve import cmd_serve
from service.cli.topology import add_parser as add_topology
from service.cli.worker import cmd_worker
from service.observability.logs import configure_logging
from service.settings import SettingsError, load_settings, parser_of

# The most clients, or projects, one seed creates (posts are streamed: no such bound).
MAX_SEED_PARENTS = 1_000_000


def _like(variable: str):
    """An option parsed and bounded like the variable it overrides: `serve --workers 0` or
    `--port 70000` (or `worker --concurrency 1000`) were taken as given, and such a serve
    kept running while it served nothing. Now argparse's one-line error, exit code 2."""
    parse = parser_of(variable)

    def parse_option(raw: str):
        try:
            return parse(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse_option


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py", description="Content Jumpstart API. Configuration comes from the environment (README).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API (the default command)",
                                description="Serve the API; with no DATABASE_URL, on an embedded PostgreSQL "
                                            "with data under ./var/pgdata.")
    serve.add_argument("--host", help="listen address (env HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=_like("PORT"), help="listen port (env PORT, default 8080)")
    serve.add_argument("--workers", type=_like("WORKERS"),
                       help="worker processes sharing the port, 1 to 64 (env WORKERS, default 1)")
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", help="run background jobs without HTTP",
                                 description="Run a job worker (exports, reports, emails, maintenance) until "
                                             "SIGTERM or Ctrl-C; serve runs one too unless JOBS_WORKER=false.")
    worker.add_argument("--concurrency", type=_like("JOBS_CONCURRENCY"),
                        help="jobs at once, 1 to 64 (env JOBS_CONCURRENCY, default 2)")
    worker.set_defaults(handler=cmd_worker)

    migrate = commands.add_parser("migrate", help="apply pending migrations and exit",
                                  description="Apply pending migrations in sql/migrations and exit.")
    migrate.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser("seed", help="bulk synthetic data (COPY)",
                               description="Load synthetic clients, projects (one run each) and posts with COPY.")
    seed.add_argument("--clients", type=int, default=10, help="clients to create (default 10)")
    seed.add_argument("--projects", type=int, default=50, help="projects, spread over the clients (default 50)")
    seed.add_argument("--posts", type=int, default=10000, help="posts, spread over the projects (default 10000)")
    seed.add_argument("--owner-email", help="user who owns the data (default: the first admin)")
    seed.set_defaults(handler=cmd_seed)

    create = commands.add_parser("create-user", help="create a user",
                                 description="Create a user (or an admin with --admin).")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True, help="at least 8 characters")
    create.add_argument("--full-name", default=None)
    create.add_argument("--admin", action="store_true", help="make the user an administrator")
    create.set_defaults(handler=cmd_create_user)

    db_url = commands.add_parser("db-url", help="print the database URI (psql \"$(python run.py db-url)\")",
                                 description="Print the database URI; starts the embedded server if needed "
                                             "and leaves it running.")
    db_url.add_argument("--owner", action="store_true",
                        help="the owner role's URI (DATABASE_OWNER_URL: DDL, migrations) instead of the serving role's")
    db_url.set_defaults(handler=cmd_db_url)

    add_topology(commands)

    try:
        from service.bench.cli import add_parser as add_bench
    except ModuleNotFoundError as exc:      # a production image may leave service/bench/ out
        if exc.name != "service.bench":
            raise
    else:
        add_bench(commands)
    from service.cli.fuzz import add_parser as add_fuzz
    add_fuzz(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve"])
    try:
        # bench and fuzz keep everything in their own directory: no ./var/secret_key for them.
        settings = load_settings(create_secret=args.command not in ("bench", "fuzz"))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if getattr(args, "command", None) == "seed":
        for name in ("clients", "projects", "posts"):
            if getattr(args, name) < 0:
                print(f"error: --{name} must not be negative", file=sys.stderr)
                return 2
        for name in ("clients", "projects"):
            # Their rows are built in memory (about 2 KB each, a run with each project), so
            # --clients 2147483648 grew the process until the machine ran out of memory.
            if getattr(args, name) > MAX_SEED_PARENTS:
                print(f"error: --{name} must be at most {MAX_SEED_PARENTS:,}", file=sys.stderr)
                return 2
        # Checked before any server starts: children need a parent to hang under.
        if args.clients < 1 and (args.projects or args.posts):
            print("error: --projects and --posts need --clients of at least 1", file=sys.stderr)
            return 2
        if args.projects < 1 and args.posts:
            print("error: --posts needs --projects of at least 1", file=sys.stderr)
            return 2
    # SIGTERM stops a command as Ctrl-C does (exit code 130), so its cleanup runs: by
    # default it ended the process at once, and a `seed` or `migrate`, or a `serve` still
    # migrating, left the embedded PostgreSQL it had started running behind it. Re-sent as
    # SIGINT, not raised here: inside asyncio.run a Ctrl-C cancels the main task at an
    # await, where a KeyboardInterrupt raised mid-COPY broke the connection's rollback.
    # serve, worker and topology replace this with their graceful stop.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: signal.raise_signal(signal.SIGINT))
    # A background job of a shell script (`python run.py seed ... &`) starts with SIGINT
    # ignored, and asyncio.run then leaves it so: the SIGINT re-sent above was dropped and
    # a seed told to stop ran to the end and committed. Python's own Ctrl-C handler is put
    # back, as serve and worker do with their signal handlers.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return args.handler(settings, args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from asyncpg import InterfaceError, PostgresError

        from service.db.migrations import MigrationError
        from service.db.registry import RegistryError
        # PostgresError: e.g. the database in DATABASE_URL does not exist, or the role may not log in.
        if isinstance(exc, (MigrationError, RegistryError, OSError, PostgresError, InterfaceError)):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise
