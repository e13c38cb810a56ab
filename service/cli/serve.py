"""`run.py serve`: prepare the database (migrate, seed an empty embedded one, check
capacity), print how to reach the service, and run the supervisor."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import sys
from pathlib import Path

from service.cli.environment import database
from service.db import roles, server
from service.db.database import Database
from service.db.migrations import TRANSACTION_LOCK
from service.db.pool import behind_pooler, connect
from service.observability.advice import capacity_advice
from service.settings import Settings

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_SIZE = {"clients": 3, "projects": 6, "posts": 300}
DEMO_SEED_LOCK_ID = 0x4A554D50_44454D4F  # "JUMPDEMO", a transaction-level advisory lock


def _demo_file(settings: Settings) -> Path:
    return settings.var_dir / "demo_admin.json"


async def _seed_demo_if_empty(db: Database, settings: Settings) -> None:
    """An empty embedded database gets a demo admin and a small data set, all or nothing."""
    from service.auth.passwords import hash_password_async
    from service.store import users
    from service.store.seed import analyze, seed

    async with db.transaction() as tx:
        # Starters of one new database take turns: two `serve` started together both found
        # no user, and the second died on the demo admin's unique email.
        await tx.conn.execute(TRANSACTION_LOCK, DEMO_SEED_LOCK_ID)
        if await users.any_exists(tx):
            return
        password = secrets.token_urlsafe(12)      # hashed only when there is someone to create
        admin = await users.insert(tx, email=DEMO_ADMIN_EMAIL, password_hash=await hash_password_async(password),
                                   full_name="Demo Admin", is_admin=True)
        await seed(db, owner_id=admin["id"], **DEMO_SIZE, show_progress=False)
        # Before the commit (and the lock's release): a starter that waited prints it.
        _write_private(_demo_file(settings), json.dumps({"email": DEMO_ADMIN_EMAIL, "password": password}))
    await analyze(db)


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, from its first byte: a new file created
    0600 (O_EXCL; the umask can only remove bits) beside the target, then renamed over
    it, so an older file's wider mode never applies to the new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


async def _prepare_to_serve(settings: Settings, *, embedded: bool) -> tuple[list[str], list[str]]:
    """Migrate as the owner and grant the serving role (db/roles.py), write the serving
    role's session defaults, seed an empty embedded database (as the owner: COPY and
    VACUUM), and check that the pools fit the server.
    Returns (migrations applied, warnings)."""
    prepared = await roles.prepare(settings)
    if embedded:
        async with Database.connect(settings.owner_url, settings) as owner:
            await _seed_demo_if_empty(owner, settings)
    async with Database.connect(settings.direct_url, settings) as db:
        warnings = [w for w in (prepared.warning(), await _pool_capacity_warning(db, settings)) if w]
    return prepared.applied, warnings


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from service.supervisor import serve
    settings = settings.replace(**{k: v for k, v in (("host", args.host), ("port", args.port),
                                                      ("workers", args.workers)) if v is not None})
    if settings.port == 0:
        settings = settings.replace(port=_free_port(settings.host))
    embedded = not settings.database_url
    with database(settings) as settings:
        applied, warnings = asyncio.run(_prepare_to_serve(settings, embedded=embedded))
        # An IPv6 literal is bracketed in a URL: http://::1:8080 is no address a client takes.
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        print(f"Content Jumpstart API on http://{host}:{settings.port}", flush=True)
        print(f"  database: {settings.database_url}" + ("  (embedded, data in "
              f"{(settings.var_dir / 'pgdata').resolve()})" if embedded else ""), flush=True)
        if applied:
            print(f"  migrations applied: {', '.join(applied)}", flush=True)
        demo = _demo_file(settings)
        if embedded and demo.exists():
            creds = json.loads(demo.read_text())
            print(f"  demo admin: {creds['email']} / {creds['password']}", flush=True)
        print("  Ctrl-C stops the service" + (" and the embedded PostgreSQL" if embedded else ""), flush=True)
        for warning in warnings:
            print(f"  warning: {warning}", flush=True)
        if settings.workers > 1:
            print(f"  workers: {settings.workers} processes sharing port {settings.port}", flush=True)
        status = serve(settings)
    if status:
        print("error: the worker processes kept dying (their log says why); stopped", file=sys.stderr)
    return status


def _free_port(host: str) -> int:
    """A port the kernel has free on host, chosen once: with port 0 left to each process, the
    banner printed http://…:0 and every worker (and each restarted one) bound a port of its
    own, so N processes did not share one port and none of them was named."""
    family, kind, proto, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.bind(address)
        return probe.getsockname()[1]


async def _pool_capacity_warning(db: Database, settings: Settings) -> str | None:
    """Say so when every worker's full pool cannot fit the server's max_connections
    (the same query and rule as /api/health/database); `db` is on the server itself."""
    async with db.session() as session:
        capacity = await server.capacity(session)
    pooled = await _through_pooler(settings.database_url, settings)
    critical = [a["message"] for a in capacity_advice(settings, capacity, pooled=pooled)
                if a["severity"] == "critical"]
    return critical[0] if critical else None


async def _through_pooler(url: str, settings: Settings) -> bool:
    """Do the pools' connections (DATABASE_URL) end at a pooler, as the pool's own probe finds?
    Unreachable yet (PgBouncer starting after us): judged as direct, as before; the pool's
    own start says why it cannot connect."""
    try:
        conn = await connect(url, settings, statement_cache_size=0)
    except Exception:
        return False
    try:
        return await behind_pooler(conn)
    finally:
        await conn.close()
