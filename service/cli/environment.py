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
    """Settings with a database URL: DATABASE_URL as given, or the embedded server.

    The embedded server stops when the block ends unless another process of ours
    (a running `serve`) also uses it, or keep_running is set (db-url).
    """
    if settings.database_url:
        yield settings
        return
    from service.db.embedded import EmbeddedPostgres, ensure_database
    server = EmbeddedPostgres(settings.var_dir / "pgdata", detach=keep_running).start()
    try:
        asyncio.run(ensure_database(server.uri("postgres")))
        yield settings.replace(database_url=server.uri())
    finally:
        if not keep_running:
            server.stop()
