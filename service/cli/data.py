"""Data commands: migrate, seed, create-user, db-url."""
from __future__ import annotations

import argparse
import asyncio

from service.cli.environment import CommandError, database
from service.db import roles
from service.db.database import Database
from service.settings import Settings


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> list[str]:
        # As the owner (DATABASE_OWNER_URL), then the serving role's grants and session defaults.
        return (await roles.prepare(settings)).applied

    with database(settings) as settings:
        applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


async def _owner_for_seed(db: Database, email: str | None):
    from service.store import users
    if email:
        owner = await users.id_by_email(db, email)
        if owner is None:
            raise CommandError(f"no user with email {email}; create one with run.py create-user")
        return owner
    owner = await users.first_admin_id(db)
    if owner is None:
        raise CommandError("no admin user to own the data; pass --owner-email or run create-user --admin")
    return owner


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from service.store.seed import analyze, seed

    async def run() -> None:
        # A bulk load holds one session (DDL, COPY, several transactions) and drops and
        # rebuilds indexes: the owner's direct connection. Without a statement timeout, on
        # either side: at 1,000,000 posts the COPY alone is one statement that ran past
        # DB_STATEMENT_TIMEOUT_MS (30 s) on a loaded machine and rolled the load back.
        await roles.prepare(settings)
        async with Database.connect(settings.owner_url, settings.replace(db_statement_timeout_ms=0)) as db:
            owner = await _owner_for_seed(db, args.owner_email)
            # All or nothing: clients, projects and runs were committed before the posts'
            # COPY, so a Ctrl-C or a failure mid-load left them behind, empty, and the next
            # run added its own beside them.
            async with db.transaction():
                report = await seed(db, owner_id=owner, clients=args.clients, projects=args.projects,
                                    posts=args.posts)
            await analyze(db)
        print(f"seeded {report.clients} clients, {report.projects} projects, {report.runs} runs, "
              f"{report.posts} posts in {report.seconds:.1f} s")

    with database(settings) as settings:
        asyncio.run(run())
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from service.api.auth import create_user
    from service.errors import ApiError
    from service.schemas.users import REGISTER
    from service.schemas.validate import validate_body

    # The same rules as POST /api/auth/register.
    try:
        given = {"email": args.email, "password": args.password, "full_name": args.full_name}
        cleaned = validate_body({k: v for k, v in given.items() if v is not None}, REGISTER)
    except ApiError as exc:
        raise CommandError(f"--{(exc.field or 'email').replace('_', '-')}: {exc.message.partition(': ')[2]}") from None

    async def run() -> None:
        await roles.prepare(settings)
        async with Database.connect(settings.database_url, settings) as db:
            try:
                user = await create_user(db, cleaned["email"], cleaned["password"], cleaned.get("full_name"),
                                         args.admin)
            except ApiError as exc:
                raise CommandError(exc.message) from None
        print(f"created {'admin' if user.is_admin else 'user'} {user.email} (id {user.id})")

    with database(settings) as settings:
        asyncio.run(run())
    return 0


def cmd_db_url(settings: Settings, args: argparse.Namespace) -> int:
    with database(settings, keep_running=True) as settings:
        print(settings.owner_url if args.owner else settings.database_url)
    return 0
