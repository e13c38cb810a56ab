"""Two database roles: the owner migrates, the serving role serves (README "Database roles").

The owner (DATABASE_OWNER_URL) owns the schema: it applies the migrations and then
grants the serving role exactly what the service does at run time (rows of the
application's tables, their sequences, its functions; sql/roles/serving_grants.sql).
The serving role (DATABASE_URL, and DATABASE_DIRECT_URL for its session connection)
cannot create, alter or drop anything. Its session defaults (statement_timeout,
plan_cache_mode; needed behind PgBouncer) are written by the serving role itself on
its direct connection: any role may set its own defaults, so neither role needs
CREATEROLE. With one URL for both (the older configuration) everything runs as that
one role, as before, and start-up says so when it is a superuser.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from service.db.database import Database, Session
from service.db.migrations import ADVISORY_LOCK_ID, TRANSACTION_LOCK, MigrationError, apply_session_defaults, migrate, pending_migrations
from service.db.registry import query
from service.settings import Settings

log = logging.getLogger(__name__)

WHOAMI = query("roles/whoami")
SERVING_GRANTS = query("roles/serving_grants")
OWNED_FUNCTIONS = query("roles/owned_functions")


@dataclass(frozen=True)
class RoleFacts:
    role: str
    superuser: bool
    createrole: bool
    createdb: bool
    create_in_database: bool
    create_in_schema: bool

    @property
    def privileged(self) -> list[str]:
        """The rights a serving role should not have, by name."""
        names = [("superuser", self.superuser), ("CREATEROLE", self.createrole), ("CREATEDB", self.createdb),
                 ("CREATE on the database", self.create_in_database),
                 ("CREATE on schema public", self.create_in_schema)]
        return [name for name, held in names if held]


async def whoami(session: Session) -> RoleFacts:
    return RoleFacts(**dict(await session.fetchrow(WHOAMI)))


async def grant_serving(owner: Session, role: str) -> int:
    """As the owner: give `role` what the service needs at run time; statements run.
    Under the migrations' advisory lock: two starters granting at once would otherwise
    fail with "tuple concurrently updated" on the same catalog rows."""
    async with owner.conn.transaction():
        await owner.conn.execute(TRANSACTION_LOCK, ADVISORY_LOCK_ID)
        statements = [r["statement"] for r in await owner.fetch(SERVING_GRANTS, role=role)]
        statements += [r["statement"] for r in await owner.fetch(OWNED_FUNCTIONS, role=role)]
        for statement in statements:
            await owner.execute_generated("roles/grant", statement)
    return len(statements)


@dataclass(frozen=True)
class Prepared:
    applied: list[str]
    serving: RoleFacts
    owner_role: str

    def warning(self) -> str | None:
        """One line when the service serves with more rights than it needs."""
        extra = self.serving.privileged
        if not extra:
            return None
        how = ("set DATABASE_OWNER_URL to the owner and DATABASE_URL to a role without them"
               if self.serving.role == self.owner_role else "revoke them from that role")
        return f"the serving role {self.serving.role!r} has {', '.join(extra)}; {how} (README \"Database roles\")"


async def prepare(settings: Settings) -> Prepared:
    """Migrate as the owner, grant the serving role, and write the serving role's
    session defaults on its direct connection. Every start (serve, worker, migrate)
    runs this; each step is idempotent and cheap when nothing changed."""
    async with Database.connect(settings.direct_url, settings) as serving_db:
        async with serving_db.session() as serving:
            facts = await whoami(serving)
            if settings.owner_url == settings.direct_url:
                if facts.create_in_schema:
                    # One role that may migrate: migrations and defaults as this role, as before.
                    async with Database.connect(settings.direct_url, _migrating(settings)) as migrating:
                        applied = await migrate(migrating, settings, lock_timeout_ms=settings.db_statement_timeout_ms)
                    return Prepared(applied, facts, facts.role)
                # The serving role alone (a deployment that migrates in a separate step): it
                # cannot apply migrations, so it only checks that none is pending.
                pending = await pending_migrations(serving.conn)
                if pending:
                    raise MigrationError(
                        f"{len(pending)} migration(s) pending ({pending[0].path.name} first) and role "
                        f"{facts.role!r} may not apply them: run `run.py migrate` with DATABASE_OWNER_URL "
                        "set to the schema owner")
                await _own_defaults(serving, settings, facts.role)
                return Prepared([], facts, facts.role)
            async with Database.connect(settings.owner_url, _migrating(settings)) as owner_db:
                applied = await migrate(owner_db, lock_timeout_ms=settings.db_statement_timeout_ms)
                async with owner_db.session() as owner:
                    owner_role = (await whoami(owner)).role
                    if owner_role != facts.role:
                        await grant_serving(owner, facts.role)
            await _own_defaults(serving, settings, facts.role)
            return Prepared(applied, await whoami(serving), owner_role)


def _migrating(settings: Settings) -> Settings:
    """The migrating connection's settings: no statement timeout, on the server or in
    asyncpg (a migration on a large table outlasted DB_STATEMENT_TIMEOUT_MS and failed at
    every start; db/migrations.py bounds its lock waits instead)."""
    return settings.replace(db_statement_timeout_ms=0)


async def _own_defaults(serving: Session, settings: Settings, role: str) -> None:
    """The serving role writes its own session defaults (no CREATEROLE needed), under
    the same lock as the grants, for the same reason. A session lock (this is the
    direct connection, never PgBouncer's): a refused ALTER ROLE (a read-only server)
    is logged by apply_session_defaults, and must not abort a transaction around it."""
    await serving.conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_ID)
    try:
        written = await apply_session_defaults(serving.conn, settings)
    finally:
        await serving.conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_ID)
    if written:
        log.info("session defaults for role %s in this database: %s", role, ", ".join(written))
