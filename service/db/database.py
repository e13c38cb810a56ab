"""The one way to run SQL: the service, the CLI, seeding and the benchmark.

The store calls `db.fetch(QUERY, name=value, ...)` or opens `db.transaction()` and
calls the same methods on the session it yields; the query lays the keyword
arguments out as $1, $2, ... (db/registry.py). Every execution passes through
`Session._run`, which times it and reports it to the request context and to the
observers (metrics, profiler), so instrumentation lives here once.

A Database runs over a pool (the service) or over one connection (`run.py`
commands, seeding): `Database.connect(dsn, settings)`.

With a read replica (DATABASE_REPLICA_URL) the router (db/routing.py) decides where
the detail reads (`<resource>/get` through fetch/fetchrow/fetchval) and the list
reads (`read(resource, ...)`, the paginator) of a GET go; everything else runs on the
primary. A replica read that fails runs again on the primary.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import orjson

from service.context import current_request
from service.db.errors import must_drop_connection, translate_db_error
from service.db.fairness import UserLimiter
from service.db.pool import Pool, connect
from service.db.registry import Query
from service.db.routing import PRIMARY, REPLICA_RESOURCES, ReplicaRouter, is_detail
from service.settings import Settings

# observer(query, elapsed_ms, rows) after each execution
QueryObserver = Callable[[Query, float, int], None]


class Session:
    """Query methods bound to one connection (inside a transaction or not)."""

    __slots__ = ("_db", "conn")

    def __init__(self, db: Database, conn: asyncpg.Connection) -> None:
        self._db = db
        self.conn = conn

    async def fetch(self, query: Query, /, **params: Any) -> list[asyncpg.Record]:
        return await self._run(query, self.conn.fetch, query.bind(params), len)

    async def fetchrow(self, query: Query, /, **params: Any) -> asyncpg.Record | None:
        return await self._run(query, self.conn.fetchrow, query.bind(params), lambda row: 0 if row is None else 1)

    async def fetchval(self, query: Query, /, **params: Any) -> Any:
        return await self._run(query, self.conn.fetchval, query.bind(params), lambda _: 1)

    async def execute(self, query: Query, /, **params: Any) -> str:
        return await self._run(query, self.conn.execute, query.bind(params), _affected_rows)

    async def explain(self, query: Query, /, **params: Any) -> dict:
        """The planner's JSON plan for a registered query with these arguments."""
        raw = await self._run(_explain_of(query), self.conn.fetchval, query.bind(params), lambda _: 1)
        return orjson.loads(raw)[0]["Plan"]

    async def execute_generated(self, name: str, text: str) -> str:
        """A statement that is no file: DDL rebuilt from the catalog (seeding), accounted as `name`."""
        return await self._run(Query(name, text), self.conn.execute, (), _affected_rows)

    async def copy_records(self, table: str, records, columns: list[str]) -> str:
        """COPY rows into a table (bulk loads), accounted as copy/<table>."""
        return await self._run(
            Query(f"copy/{table}", f"COPY {table}"),
            lambda _text: self.conn.copy_records_to_table(table, records=records, columns=columns),
            (), _affected_rows)

    async def batches(self, query: Query, /, batch_size: int | Callable[[], int],
                      **params: Any) -> AsyncIterator[list[asyncpg.Record]]:
        """The rows of a query, `batch_size` at a time, through a server-side cursor
        (inside a transaction). The cursor keeps the snapshot of its opening for its
        whole life, so every batch belongs to one consistent view, and memory holds
        one batch. `batch_size` may be a callable, asked before each fetch (a caller
        that bounds its batches by bytes). Each fetch is accounted as an execution of
        the query.

        A SQL cursor (DECLARE, FETCH), not asyncpg's: asyncpg prepares a cursor's query
        as a named statement whatever DB_STATEMENT_CACHE_SIZE says and closes it lazily,
        by a later statement of the connection. Through PgBouncer in transaction mode that
        close went to another server connection when the caller stopped half-way (a failed
        or cancelled export), and the statement stayed on this one for its life, where
        another process's statement of the same name was refused. DECLARE and FETCH run
        as unnamed statements, and the cursor closes with its transaction."""
        size_of = batch_size if callable(batch_size) else lambda: batch_size
        name = f"cj_batches_{next(_cursor_ids)}"
        declare = f"DECLARE {name} NO SCROLL CURSOR FOR\n{query.text}"
        await self._run(query, lambda _text, *args: self.conn.execute(declare, *args), query.bind(params),
                        lambda _: 0)
        while True:
            size = int(size_of())
            rows = await self._run(query, lambda _text, size=size: self.conn.fetch(f"FETCH FORWARD {size} FROM {name}"),
                                   (), len)
            if not rows:
                return
            yield rows
            if len(rows) < size:
                return

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """A transaction (or a savepoint inside one) on this session's connection."""
        async with _transaction(self.conn):
            yield self

    async def _run(self, query: Query, method, args: tuple, count_rows: Callable[[Any], int]) -> Any:
        start = time.perf_counter()
        try:
            result = await method(query.text, *args)
        except Exception as exc:
            # A failed execution still spent database time: a statement cancelled by
            # DB_STATEMENT_TIMEOUT_MS is exactly what the slow log must show.
            self._db.record(query, (time.perf_counter() - start) * 1000.0, 0)
            raise translate_db_error(exc) from exc
        db = self._db
        db.record(query, (time.perf_counter() - start) * 1000.0, count_rows(result) if db.observers else 0)
        return result


@asynccontextmanager
async def _transaction(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """BEGIN (or SAVEPOINT) ... COMMIT, with every driver failure of the BEGIN, the
    COMMIT or the ROLLBACK translated (AdminShutdownError at COMMIT during a server
    restart is a 503, not a 500). After a connection fault or a cancellation no
    ROLLBACK is sent: the pool drops the connection (the server rolls back when it
    goes; a ROLLBACK could wait for an answer that never comes)."""
    tx = conn.transaction()
    with _translating():
        await tx.start()
    try:
        yield
    except BaseException as exc:
        if not must_drop_connection(exc) and not conn.is_closed():
            with _translating():
                await tx.rollback()
        raise
    with _translating():
        await tx.commit()


@contextmanager
def _translating() -> Iterator[None]:
    """Driver failures in the block as API errors (see errors.translate_db_error)."""
    try:
        yield
    except Exception as exc:
        translated = translate_db_error(exc)
        if translated is exc:
            raise
        raise translated from exc


# Names of the SQL cursors of Session.batches: unique in the process, so two at once in one
# transaction cannot clash (a cursor's name lives as long as its transaction).
_cursor_ids = itertools.count(1)

_explains: dict[str, Query] = {}


def _explain_of(query: Query) -> Query:
    """EXPLAIN of a registered query, as a query of its own (explain/<name>) so its
    database time is accounted and profiled like any other execution."""
    explain = _explains.get(query.name)
    if explain is None:
        explain = _explains[query.name] = Query(f"explain/{query.name}", f"EXPLAIN (FORMAT JSON) {query.text}",
                                                params=query.params)
    return explain


def _affected_rows(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class OneConnection:
    """A pool of one: what a command-line run or a bulk load needs, with the pool's interface."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        yield self.conn

    async def close(self) -> None:
        await self.conn.close()


class Database:
    def __init__(self, pool: Pool | OneConnection, limiter: UserLimiter | None = None,
                 router: ReplicaRouter | None = None) -> None:
        self.pool = pool
        self.observers: list[QueryObserver] = []
        # Per-user fair share of the pool (service/db/fairness.py); None: unlimited.
        self.limiter = limiter
        # Where list and detail reads go when a replica is configured (db/routing.py).
        self.router = router

    @classmethod
    @asynccontextmanager
    async def connect(cls, dsn: str, settings: Settings) -> AsyncIterator[Database]:
        """A Database over one connection configured like the pool's, closed at the end."""
        source = OneConnection(await connect(dsn, settings))
        try:
            yield cls(source)
        finally:
            await source.close()

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
    async def _connection(self, pool: Pool | OneConnection | None = None) -> AsyncIterator[asyncpg.Connection]:
        pool = pool or self.pool
        if self.limiter is None:
            async with pool.acquire() as conn:
                yield conn
            return
        async with self.limiter.slot(), pool.acquire() as conn:
            yield conn

    async def read(self, resource: str, call: Callable[[Session], Awaitable[Any]]) -> Any:
        """`await call(session)` for reads of `resource` (a list: count, page, boundaries),
        on the replica when the router allows it, else on the primary."""
        router = self.router
        if router is not None and resource in REPLICA_RESOURCES:
            ctx = current_request.get()
            if await router.target(ctx) != PRIMARY:
                try:
                    async with router.cut_when_down(), self._connection(router.pool) as conn:
                        return await call(Session(self, conn))
                except Exception as exc:
                    if not router.fell_back(ctx, exc):
                        raise
        async with self.session() as session:
            return await call(session)


    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        async with self._connection() as conn:
            yield Session(self, conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._connection() as conn, _transaction(conn):
            yield Session(self, conn)

    async def fetch(self, query: Query, /, **params: Any) -> list[asyncpg.Record]:
        if self.router is not None and is_detail(query.name):
            return await self.read(query.name.partition("/")[0], lambda session: session.fetch(query, **params))
        async with self.session() as session:
            return await session.fetch(query, **params)

    async def fetchrow(self, query: Query, /, **params: Any) -> asyncpg.Record | None:
        if self.router is not None and is_detail(query.name):
            return await self.read(query.name.partition("/")[0], lambda session: session.fetchrow(query, **params))
        async with self.session() as session:
            return await session.fetchrow(query, **params)

    async def fetchval(self, query: Query, /, **params: Any) -> Any:
        if self.router is not None and is_detail(query.name):
            return await self.read(query.name.partition("/")[0], lambda session: session.fetchval(query, **params))
        async with self.session() as session:
            return await session.fetchval(query, **params)

    async def execute(self, query: Query, /, **params: Any) -> str:
        async with self.session() as session:
            return await session.execute(query, **params)
