"""The one place that executes SQL.

Handlers call `db.fetch(QUERY, *args)` or open `db.transaction()` and call the
same methods on the session it yields. Every execution passes through
`Session._run`, which times it and reports it to the request context and to the
observers (the profiler), so instrumentation lives here once.
"""
from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

import asyncpg
import orjson

from ..context import current_request
from .errors import translate_db_error
from .pool import Pool
from .registry import Query

# observer(query, elapsed_ms, rows) after each execution
QueryObserver = Callable[[Query, float, int], None]


class Session:
    """Query methods bound to one connection (inside a transaction or not)."""

    __slots__ = ("_db", "conn")

    def __init__(self, db: "Database", conn: asyncpg.Connection) -> None:
        self._db = db
        self.conn = conn

    async def fetch(self, query: Query, *args: Any) -> list[asyncpg.Record]:
        return await self._run(query, self.conn.fetch, args, len)

    async def fetchrow(self, query: Query, *args: Any) -> asyncpg.Record | None:
        return await self._run(query, self.conn.fetchrow, args, lambda row: 0 if row is None else 1)

    async def fetchval(self, query: Query, *args: Any) -> Any:
        return await self._run(query, self.conn.fetchval, args, lambda _: 1)

    async def execute(self, query: Query, *args: Any) -> str:
        return await self._run(query, self.conn.execute, args, _affected_rows)

    async def explain(self, query: Query, *args: Any) -> dict:
        """The planner's JSON plan for a registered query with these arguments."""
        raw = await self._run(_explain_of(query), self.conn.fetchval, args, lambda _: 1)
        return orjson.loads(raw)[0]["Plan"]

    async def _run(self, query: Query, method, args: tuple, count_rows: Callable[[Any], int]) -> Any:
        start = time.perf_counter()
        try:
            result = await method(query.text, *args)
        except Exception as exc:  # noqa: BLE001
            # A failed execution still spent database time: a statement cancelled by
            # DB_STATEMENT_TIMEOUT_MS is exactly what the slow log must show.
            self._db.record(query, (time.perf_counter() - start) * 1000.0, 0)
            raise translate_db_error(exc) from exc
        db = self._db
        db.record(query, (time.perf_counter() - start) * 1000.0, count_rows(result) if db.observers else 0)
        return result


_explains: dict[str, Query] = {}


def _explain_of(query: Query) -> Query:
    """EXPLAIN of a registered query, as a query of its own (explain/<name>) so its
    database time is accounted and profiled like any other execution."""
    explain = _explains.get(query.name)
    if explain is None:
        explain = _explains[query.name] = Query(f"explain/{query.name}")
        explain.text = f"EXPLAIN (FORMAT JSON) {query.text}"
    return explain


def _affected_rows(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class Database:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.observers: list[QueryObserver] = []

    def record(self, query: Query, elapsed_ms: float, rows: int) -> None:
        """Account one execution to the request and report it to every observer."""
        self.account(query.name, elapsed_ms)
        for observer in self.observers:
            observer(query, elapsed_ms, rows)

    def account(self, name: str, elapsed_ms: float) -> None:
        ctx = current_request.get()
        if ctx is not None:
            ctx.db_ms += elapsed_ms
            ctx.queries += 1
            ctx.query_counts[name] = ctx.query_counts.get(name, 0) + 1

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        async with self.pool.acquire() as conn:
            yield Session(self, conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    yield Session(self, conn)
            except asyncpg.PostgresError:
                raise
            except Exception as exc:  # noqa: BLE001 - a dropped connection mid-transaction is 503
                raise translate_db_error(exc) from exc

    async def fetch(self, query: Query, *args: Any) -> list[asyncpg.Record]:
        async with self.session() as session:
            return await session.fetch(query, *args)

    async def fetchrow(self, query: Query, *args: Any) -> asyncpg.Record | None:
        async with self.session() as session:
            return await session.fetchrow(query, *args)

    async def fetchval(self, query: Query, *args: Any) -> Any:
        async with self.session() as session:
            return await session.fetchval(query, *args)

    async def execute(self, query: Query, *args: Any) -> str:
        async with self.session() as session:
            return await session.execute(query, *args)
