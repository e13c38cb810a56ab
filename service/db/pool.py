"""The asyncpg pool: connection set-up and the one acquire path.

Every connection gets the same session settings: the statement timeout, the plan
mode (see README "Plans"), and a jsonb codec so JSON columns are Python objects.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

import asyncpg
import orjson

from ..errors import ServiceUnavailable
from ..settings import Settings
from .errors import translate_db_error


def server_settings(settings: Settings, application_name: str = "content-jumpstart-api") -> dict[str, str]:
    return {
        "application_name": application_name,
        "statement_timeout": str(settings.db_statement_timeout_ms),
        # List queries take optional filters as `($n IS NULL OR col = $n)`. A custom
        # plan folds the NULL ones away and picks the index of the filters present;
        # a generic plan (PostgreSQL's choice after five runs of a prepared
        # statement) could not. Planning costs ~0.1 ms; a wrong plan costs seconds.
        "plan_cache_mode": "force_custom_plan",
    }


def _encode_jsonb(value) -> bytes:
    return b"\x01" + orjson.dumps(value)   # jsonb binary format: version 1, then the text


def _decode_jsonb(data: bytes):
    return orjson.loads(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    # Binary, so COPY (seeding) can encode jsonb too.
    await conn.set_type_codec("jsonb", schema="pg_catalog", format="binary",
                              encoder=_encode_jsonb, decoder=_decode_jsonb)


async def connect(dsn: str, settings: Settings, **kwargs) -> asyncpg.Connection:
    """A single connection configured like the pool's (migrations, LISTEN, tests)."""
    conn = await asyncpg.connect(dsn, server_settings=server_settings(settings), **kwargs)
    await init_connection(conn)
    return conn


class Pool:
    """asyncpg's pool with a bounded acquire that answers 503 instead of hanging."""

    def __init__(self, dsn: str, settings: Settings) -> None:
        self.dsn = dsn
        self.settings = settings
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self.settings.db_pool_size,
                max_size=self.settings.pool_max_size,
                max_inactive_connection_lifetime=self.settings.db_idle_timeout_s,
                server_settings=server_settings(self.settings),
                init=init_connection,
            )
        except Exception as exc:  # noqa: BLE001 - translated below
            raise translate_db_error(exc) from exc

    async def close(self) -> None:
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout=10)
            except asyncio.TimeoutError:
                self._pool.terminate()
            self._pool = None

    @property
    def raw(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ServiceUnavailable("the database pool is not open")
        return self._pool

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self.raw
        try:
            conn = await pool.acquire(timeout=self.settings.db_pool_timeout)
        except asyncio.TimeoutError:
            raise ServiceUnavailable(
                f"no database connection became free within {self.settings.db_pool_timeout:g} s; try again later",
                code="pool_exhausted") from None
        except Exception as exc:  # noqa: BLE001
            raise translate_db_error(exc) from exc
        try:
            yield conn
        finally:
            await pool.release(conn)
