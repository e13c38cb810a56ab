"""Schema migrations: sql/migrations/NNNN_name.sql, applied in order, each once.

Each file runs in its own transaction and is recorded in schema_migrations with
a SHA-256 checksum. A recorded file whose text changed stops start-up. A
transaction-level advisory lock makes concurrent starters (workers, instances) wait
for one another instead of applying the same file twice.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from service.db.registry import SQL_DIR

log = logging.getLogger(__name__)

MIGRATIONS_DIR = SQL_DIR / "migrations"
# Any fixed 64-bit number shared by every process of this service.
ADVISORY_LOCK_ID = 0x4A554D50_53544152  # "JUMPSTAR"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
TRANSACTION_LOCK = "SELECT pg_advisory_xact_lock($1)"
_IS_APPLIED = "SELECT true FROM schema_migrations WHERE version = $1"
# A migration's own work is not bounded by the service's statement timeout (0112 rebuilds
# posts' text indexes: minutes at 1,000,000 posts), nor is the wait for another starter's
# migration (the advisory lock); a wait for a table lock that the running service holds is
# (lock_timeout, $1 ms), so a migration never queues every request behind it for long.
_UNBOUNDED = "SELECT set_config('statement_timeout', '0', true)"
_LOCK_WAIT = "SELECT set_config('lock_timeout', $1, true)"
# This role's defaults in this database (ALTER ROLE ... IN DATABASE ... SET).
_ROLE_DEFAULTS = """
SELECT setconfig FROM pg_db_role_setting
WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())"""

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


class MigrationError(RuntimeError):
    """The schema cannot be brought up to date safely."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


async def _applied(conn: asyncpg.Connection) -> dict[int, str]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    return {r["version"]: r["checksum"] for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")}


def _check_unchanged(migrations: list[Migration], applied: dict[int, str]) -> None:
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.path.name} was changed after it was applied "
                f"(recorded checksum {recorded[:12]}, file now {migration.checksum[:12]}); "
                "restore the file and put the change in a new migration")


async def pending_migrations(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR, *,
                             migrations: list[Migration] | None = None) -> list[Migration]:
    """Files not yet applied (raises MigrationError if an applied one changed).
    `migrations`: the files as already read (a running app reads them once)."""
    if migrations is None:
        migrations = discover(directory)
    applied = await _applied(conn)
    _check_unchanged(migrations, applied)
    return [m for m in migrations if m.version not in applied]


async def apply_migrations(conn: asyncpg.Connection, directory: Path | None = None, *,
                           lock_timeout_ms: int = 0) -> list[Migration]:
    """Apply every pending migration; return those applied by this call.

    A migration runs without a statement timeout; it waits at most `lock_timeout_ms`
    (0: for ever) for each lock on a table. `conn` should have no client-side
    command timeout either (db/roles.py connects so): asyncpg would cut the file off.

    Each migration runs in a transaction that first takes a transaction-level
    advisory lock and re-checks that the file is still pending: concurrent starters
    (workers, instances) wait for one another and never apply a file twice, and no
    lock outlives a transaction, so this also holds through PgBouncer in transaction
    mode (a session lock would stay on whichever server connection took it)."""
    migrations = discover(directory or MIGRATIONS_DIR)
    async with conn.transaction():
        await conn.execute(_UNBOUNDED)
        await conn.execute(TRANSACTION_LOCK, ADVISORY_LOCK_ID)
        await conn.execute(_CREATE_TABLE)
    applied = await _applied(conn)
    _check_unchanged(migrations, applied)
    done: list[Migration] = []
    for migration in migrations:
        if migration.version in applied:
            continue
        try:
            async with conn.transaction():
                await conn.execute(_UNBOUNDED)
                await conn.execute(TRANSACTION_LOCK, ADVISORY_LOCK_ID)
                if await conn.fetchval(_IS_APPLIED, migration.version):
                    continue      # another starter applied it while we waited for the lock
                await conn.execute(_LOCK_WAIT, str(lock_timeout_ms))
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version, migration.name, migration.checksum)
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"migration {migration.path.name} failed: {exc}") from exc
        done.append(migration)
    return done


async def apply_session_defaults(conn: asyncpg.Connection, settings) -> list[str]:
    """Write the service's session settings (db/pool.py session_settings) as this
    role's defaults in this database, where they differ; the `name=value` written.

    Behind PgBouncer in transaction mode the pool cannot send them at startup (it
    refuses unknown startup parameters) and a session SET would stick to whichever
    server connection ran it; role defaults apply to every new server session
    instead, at no cost per request. Any role may set its own defaults; without that
    right (or on a read-only server) this logs what an administrator must run."""
    from service.db.pool import session_settings
    wanted = session_settings(settings)
    current = {}
    for entry in await conn.fetchval(_ROLE_DEFAULTS) or []:
        name, _, value = entry.partition("=")
        current[name] = value
    changes = {name: value for name, value in wanted.items() if current.get(name) != value}
    if not changes:
        return []
    database = await conn.fetchval("SELECT current_database()")
    statements = [f"ALTER ROLE CURRENT_USER IN DATABASE {_identifier(database)} SET {name} = {_literal(value)}"
                  for name, value in changes.items()]
    try:
        for statement in statements:
            await conn.execute(statement)
    except asyncpg.PostgresError as exc:
        log.warning("could not set the session defaults (%s); behind PgBouncer, have an administrator run: %s",
                    exc, "; ".join(statements))
        return []
    return [f"{name}={value}" for name, value in changes.items()]


async def migrate(db, settings=None, *, lock_timeout_ms: int = 0) -> list[str]:
    """Apply pending migrations on one connection of `db` (a Database); the file names
    applied. With settings, also write the session defaults (apply_session_defaults)."""
    async with db.session() as session:
        applied = [m.path.name for m in await apply_migrations(session.conn, lock_timeout_ms=lock_timeout_ms)]
        if settings is not None:
            written = await apply_session_defaults(session.conn, settings)
            if written:
                log.info("session defaults for this role in this database: %s", ", ".join(written))
        return applied


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
