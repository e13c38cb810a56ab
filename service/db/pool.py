"""The asyncpg pool: connection set-up and the one acquire path, measured.

Every connection gets the same session settings: the statement timeout, the plan
mode (see README "Plans"), and a jsonb codec so JSON columns are Python objects.

asyncpg sizes the pool (DB_POOL_SIZE as `min_size`, + DB_MAX_OVERFLOW as
`max_size`) and closes connections idle for DB_IDLE_TIMEOUT_S, but since 0.32
only those above `min_size` (older releases could drop below it: asyncpg issues
989, 1268), so the overflow shrinks back and the base stays. Everything else is
ours, in `Pool.acquire`: the bounded wait (503 instead of a hang), the waiter
count, wait and hold timings, the pre-ping of idle connections, the absolute
age limit (DB_POOL_RECYCLE, applied on release) and leak suspicion.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import orjson

from service.context import RequestContext, current_request, current_task
from service.db.errors import found_read_only, is_connection_fault, must_drop_connection, translate_db_error
from service.db.server import BACKEND_PID, PING
from service.errors import ServiceUnavailable
from service.observability.stats import HOLD_BUCKETS, WAIT_BUCKETS, Histogram, Timings
from service.settings import Settings

log = logging.getLogger("service.db.pool")

# A connection used within the last second is known to be alive: pinging it would
# add a round trip to every busy request for nothing.
PRE_PING_AFTER_IDLE_S = 1.0
PRE_PING_TIMEOUT_S = 2.0
CHECKOUT_ATTEMPTS = 3          # dead idle connections replaced before giving up
CLOSE_TIMEOUT_S = 5.0
RECENT_LEAKS = 20
READ_ONLY_LOG_EVERY_S = 10.0
READ_ONLY_EXPIRE_EVERY_S = 1.0


# Client-side margin over the server's statement timeout. The server cancels a slow
# statement at DB_STATEMENT_TIMEOUT_MS and answers; when no answer comes at all (the
# network dropped, nothing closed), asyncpg gives up this much later and the
# connection is dropped: that is what bounds a request during a partition.
NETWORK_GRACE_S = 5.0
CONNECT_TIMEOUT_S = 10.0

# The settings every session of the service relies on. Sent as startup parameters
# when the server accepts them (a direct connection); PgBouncer refuses unknown
# startup parameters, so behind it they come from the role's defaults in this
# database, which `run.py migrate` writes (db/migrations.py apply_session_defaults).
SESSION_SETTINGS = ("statement_timeout", "plan_cache_mode")


def session_settings(settings: Settings) -> dict[str, str]:
    return {
        "statement_timeout": str(settings.db_statement_timeout_ms),
        # List queries take optional filters as `($n IS NULL OR col = $n)`. A custom
        # plan folds the NULL ones away and picks the index of the filters present;
        # a generic plan (PostgreSQL's choice after five runs of a prepared
        # statement) could not. Planning costs ~0.1 ms; a wrong plan costs seconds.
        "plan_cache_mode": "force_custom_plan",
    }


def server_settings(settings: Settings, application_name: str = "content-jumpstart-api", *,
                    startup: bool = True) -> dict[str, str]:
    """Startup parameters: the application name, plus the session settings unless
    the other end refuses them (PgBouncer: `startup=False`)."""
    values = {"application_name": application_name}
    if startup:
        values.update(session_settings(settings))
    return values


def command_timeout(settings: Settings) -> float | None:
    """asyncpg's per-statement client-side limit: the server's timeout plus the grace."""
    if settings.db_statement_timeout_ms == 0:
        return None
    return settings.db_statement_timeout_ms / 1000.0 + NETWORK_GRACE_S


def request_wait_bound_s(settings: Settings) -> float:
    """The longest one request waits on the database, when it can no longer reach it
    (a partition: bytes stop, nothing closes): a connection within DB_POOL_TIMEOUT
    (new connections included), at most one pre-ping of PRE_PING_TIMEOUT_S past it,
    then one statement within the client-side command timeout; the first statement
    that fails ends the request with 503. Unbounded with DB_STATEMENT_TIMEOUT_MS=0."""
    statement = command_timeout(settings)
    if statement is None:
        return float("inf")
    return settings.db_pool_timeout + PRE_PING_TIMEOUT_S + statement


def refused_startup_parameter(exc: BaseException) -> bool:
    """PgBouncer (transaction or session mode) answers an unknown startup parameter
    with `unsupported startup parameter: <name>` (SQLSTATE 08P01)."""
    return isinstance(exc, asyncpg.PostgresError) and "unsupported startup parameter" in str(exc)


def _encode_jsonb(value) -> bytes:
    return b"\x01" + orjson.dumps(value)   # jsonb binary format: version 1, then the text


def _decode_jsonb(data: bytes):
    return orjson.loads(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    # Binary, so COPY (seeding) can encode jsonb too.
    await conn.set_type_codec("jsonb", schema="pg_catalog", format="binary",
                              encoder=_encode_jsonb, decoder=_decode_jsonb)


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond asyncpg's own rollback of an open transaction.

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` on every release: a round trip that cost 60-110 us of CPU
    and 90-160 us of latency per checkout here. The service never leaves session
    state on a pooled connection (no SET, LISTEN, advisory locks or cursors; the
    LISTEN of the cache feed has a connection of its own), so there is nothing to
    undo. Code that changes session state must use SET LOCAL inside a transaction.
    """


async def connect(dsn: str, settings: Settings, *, application_name: str = "content-jumpstart-api",
                  **kwargs) -> asyncpg.Connection:
    """A single connection configured like the pool's (commands, migrations, tests):
    DB_STATEMENT_CACHE_SIZE honoured, session settings as startup parameters unless
    refused (PgBouncer), then the role's defaults apply."""
    kwargs.setdefault("statement_cache_size", settings.db_statement_cache_size)
    kwargs.setdefault("timeout", CONNECT_TIMEOUT_S)
    try:
        conn = await asyncpg.connect(dsn, server_settings=server_settings(settings, application_name), **kwargs)
    except asyncpg.PostgresError as exc:
        if not refused_startup_parameter(exc):
            raise
        # A pooler (PgBouncer): no named prepared statements either (Pool._statement_cache_size).
        kwargs["statement_cache_size"] = 0
        conn = await asyncpg.connect(dsn, server_settings=server_settings(settings, application_name, startup=False),
                                     **kwargs)
        _REFUSED_STARTUP.add(conn)
    await init_connection(conn)
    return conn


# Connections made without the session settings because the other end refused them.
_REFUSED_STARTUP: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()


def refused_startup_parameter_seen(conn: asyncpg.Connection) -> bool:
    return conn in _REFUSED_STARTUP


async def behind_pooler(conn: asyncpg.Connection) -> bool:
    """Whether a pooler (PgBouncer) stands between this connection and the server: it refused
    the session settings at startup, or it gave us a backend pid (cancel key) of its own,
    as PgBouncer does also when it takes them (ignore_startup_parameters). One round trip."""
    return refused_startup_parameter_seen(conn) or conn.get_server_pid() != await conn.fetchval(BACKEND_PID.text)


async def settings_in_force(conn: asyncpg.Connection) -> dict[str, str]:
    """The session settings as the server applies them on this connection."""
    from service.db.server import SESSION_SETTINGS as QUERY
    rows = await conn.fetch(QUERY.text, list(SESSION_SETTINGS))
    return {row["name"]: row["setting"] for row in rows}


class _Connection:
    """What we know of one open connection, keyed by its server pid."""

    __slots__ = ("pid", "opened_at", "released_at")

    def __init__(self, pid: int, now: float) -> None:
        self.pid = pid
        self.opened_at = now
        self.released_at = now


class _Hold:
    """One checkout: since when, by which request."""

    __slots__ = ("since", "ctx", "task", "suspected")

    def __init__(self, since: float, ctx: RequestContext | None) -> None:
        self.since = since
        self.ctx = ctx
        # Outside a request: the job (or job worker loop) holding it, so a long export is named
        # in the leak report instead of reading as an anonymous leak.
        self.task = current_task.get() if ctx is None else None
        self.suspected = False

    def describe(self, now: float) -> dict:
        ctx = self.ctx
        endpoint, request_id = (ctx.endpoint, ctx.request_id) if ctx is not None else self.task or (None, None)
        return {"held_ms": round((now - self.since) * 1000.0, 1), "endpoint": endpoint, "request_id": request_id}


class PoolEvents:
    """Counters since start, all measured in the acquire path or in connection callbacks."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self.connects = 0
        self.disconnects = 0
        self.acquires = 0
        self.releases = 0
        self.acquire_timeouts = 0
        self.acquire_errors = 0          # the server refused or was unreachable
        self.waited = 0                  # acquires that found every connection (max) in use
        self.pre_ping_failures = 0
        self.recycles = 0
        self.faults = 0                  # connections dropped after failing under a statement
        self.read_only_found = 0         # sessions found read-only (a refused write, a health check)
        self.leaks_suspected = 0
        self.peak_in_use = 0
        self.wait_ms = Timings()
        self.hold_ms = Timings()
        self.wait_histogram = Histogram(WAIT_BUCKETS)
        self.hold_histogram = Histogram(HOLD_BUCKETS)
        self.recent_leaks: deque[dict] = deque(maxlen=RECENT_LEAKS)

    def as_dict(self) -> dict:
        return {
            "since": _iso(self.started_at),
            "connects": self.connects, "disconnects": self.disconnects,
            "acquires": self.acquires, "releases": self.releases,
            "acquire_timeouts": self.acquire_timeouts, "acquire_errors": self.acquire_errors,
            "acquires_waited_for_full_pool": self.waited,
            "pre_ping_failures": self.pre_ping_failures, "recycles": self.recycles,
            "connection_faults": self.faults, "read_only_found": self.read_only_found,
            "leaks_suspected": self.leaks_suspected, "peak_in_use": self.peak_in_use,
            "acquire_wait_ms": self.wait_ms.summary(), "hold_ms": self.hold_ms.summary(),
        }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class Pool:
    """asyncpg's pool behind one measured acquire that answers 503 instead of hanging."""

    pre_ping_after_idle_s = PRE_PING_AFTER_IDLE_S
    pre_ping_timeout_s = PRE_PING_TIMEOUT_S

    def __init__(self, dsn: str, settings: Settings) -> None:
        self.dsn = dsn
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self.events = PoolEvents()
        self.waiting = 0
        self._connections: dict[int, _Connection] = {}
        self._holds: set[_Hold] = set()
        self._watchdog: asyncio.Task | None = None
        self._echo = settings.db_echo_pool
        # What the probe found: session settings sent at startup or not, and in force.
        self.session: dict = {}
        # perf_counter of the last connection fault: connections released before it
        # are pinged before their next use, whatever their idle time.
        self._fault_at = 0.0
        self._read_only_logged_at = -math.inf
        self._read_only_expired_at = -math.inf

    async def open(self) -> None:
        try:
            startup = await self._probe()
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self.settings.db_pool_size,
                max_size=self.settings.pool_max_size,
                max_inactive_connection_lifetime=self.settings.db_idle_timeout_s,
                server_settings=server_settings(self.settings, startup=startup),
                init=self._on_connect,
                reset=keep_session,
                statement_cache_size=self.session["statement_cache_size"],
                command_timeout=command_timeout(self.settings),
                timeout=CONNECT_TIMEOUT_S,
            )
        except Exception as exc:
            raise translate_db_error(exc) from exc
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_for_leaks())

    async def _probe(self) -> bool:
        """One connection before the pool: does the other end take the session settings
        as startup parameters (a server) or refuse them (PgBouncer)? And are they in
        force either way? Is a pooler in between? Returns whether to send them at startup."""
        conn = await connect(self.dsn, self.settings, statement_cache_size=0)
        try:
            startup = not refused_startup_parameter_seen(conn)
            in_force = await settings_in_force(conn)
            pooled = await behind_pooler(conn)
        finally:
            await conn.close()
        wanted = session_settings(self.settings)
        self.session = {"sent_at_startup": startup, "in_force": in_force,
                        "as_configured": in_force == wanted, "pooler": pooled,
                        "statement_cache_size": self._statement_cache_size(pooled)}
        if in_force != wanted:
            log.warning(
                "session settings not in force through %s: %s, wanted %s. Behind PgBouncer they come from "
                "the role's defaults in this database: run `run.py migrate` with DATABASE_DIRECT_URL set (it "
                "writes them), then have PgBouncer reconnect its server connections (RECONNECT)",
                "the pooler" if not startup else "the server", in_force, wanted)
        return startup

    def _statement_cache_size(self, pooled: bool) -> int:
        """DB_STATEMENT_CACHE_SIZE, except behind a pooler: asyncpg's named prepared statements
        are prepared on one server connection and run on whichever PgBouncer's transaction
        mode hands out next ('prepared statement "__asyncpg_stmt_1__" does not exist': a 500
        on most requests under concurrency). The unnamed statement is carried (README,
        Topology and faults), at the price of planning each execution, which
        plan_cache_mode=force_custom_plan does anyway."""
        size = self.settings.db_statement_cache_size
        if pooled and size:
            log.warning("DATABASE_URL reaches the server through a pooler (PgBouncer): prepared-statement cache "
                        "off (DB_STATEMENT_CACHE_SIZE=%d ignored; set it to 0 to say so)", size)
            return 0
        return size

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout=10)
            except TimeoutError:
                self._pool.terminate()
            self._pool = None

    @property
    def raw(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ServiceUnavailable("the database pool is not open")
        return self._pool

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    # -- connection life -------------------------------------------------------

    async def _on_connect(self, conn: asyncpg.Connection) -> None:
        await init_connection(conn)
        pid = conn.get_server_pid()
        state = _Connection(pid, time.perf_counter())
        self._connections[pid] = state
        self.events.connects += 1
        conn.add_termination_listener(lambda _conn: self._on_disconnect(state))
        if self._echo:
            log.info("pool: connected (backend pid %d), size %d", pid, len(self._connections))

    def _on_disconnect(self, state: _Connection) -> None:
        # The server may reuse a pid: forget only the connection this listener belongs to.
        if self._connections.get(state.pid) is state:
            del self._connections[state.pid]
        self.events.disconnects += 1
        if self._echo:
            log.info("pool: disconnected (backend pid %d) after %.1f s", state.pid,
                     time.perf_counter() - state.opened_at)

    # -- the acquire path --------------------------------------------------------

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self.raw
        events = self.events
        start = time.perf_counter()
        if len(self._holds) >= pool.get_max_size():
            events.waited += 1
        self.waiting += 1
        try:
            conn, state = await self._checkout(pool, start)
        finally:
            self.waiting -= 1
        now = time.perf_counter()
        events.acquires += 1
        events.wait_ms.add((now - start) * 1000.0)
        events.wait_histogram.observe(now - start)
        hold = _Hold(now, current_request.get())
        holds = self._holds
        holds.add(hold)
        if len(holds) > events.peak_in_use:
            events.peak_in_use = len(holds)
        if self._echo:
            log.info("pool: checkout (backend pid %s) after %.2f ms", state.pid if state else "?",
                     (now - start) * 1000.0)
        fault = drop = False
        try:
            yield conn
        except BaseException as exc:
            fault = is_connection_fault(exc)
            drop = fault or must_drop_connection(exc)
            if found_read_only(exc):
                drop = True             # this session is read-only for good: never handed out again
                await self.found_read_only()
            raise
        finally:
            holds.discard(hold)
            await self._checkin(pool, conn, state, hold, fault=fault, drop=drop)

    async def _checkout(self, pool: asyncpg.Pool, start: float) -> tuple[asyncpg.Connection, _Connection | None]:
        deadline = start + self.settings.db_pool_timeout
        for _ in range(CHECKOUT_ATTEMPTS):
            try:
                # asyncio.timeout, not acquire(timeout=): on Python 3.11 asyncpg's timeout is
                # asyncio.wait_for, which wraps the acquire in a new Task on every checkout.
                async with asyncio.timeout(max(deadline - time.perf_counter(), 0.0)) as waited:
                    conn = await pool.acquire()
            except TimeoutError as exc:
                if waited.expired():
                    raise self._timed_out() from None
                # asyncpg's own connect timeout (CONNECT_TIMEOUT_S) while the pool opened a
                # connection for us: the server does not answer (a partition, a hung server),
                # which is not an exhausted pool: no pool_exhausted, no acquire timeout counted.
                self.events.acquire_errors += 1
                raise translate_db_error(exc) from exc
            except Exception as exc:
                self.events.acquire_errors += 1
                raise translate_db_error(exc) from exc
            # No await between the acquire and this line: the connection is open here.
            state = self._connections.get(conn.get_server_pid())
            if state is None or not self._needs_ping(state):
                return conn, state
            try:
                alive = await self._ping(conn, state)
            except BaseException:
                # Cancelled during the ping (the caller's own deadline): the connection is
                # out of the pool and not yet the caller's; without this it is lost for good.
                _terminate(conn)
                raise
            if alive:
                return conn, state
            if time.perf_counter() >= deadline:
                raise self._timed_out()
        raise ServiceUnavailable("the database is unavailable; try again later")

    async def found_read_only(self, *, at_once: bool = False) -> None:
        """A write (or a health check) found the server read-only: replace every open connection
        on its next use. A session that began read-only stays so after the database takes
        writes again (ALTER DATABASE/ROLE ... SET reach new sessions only), and after a failover
        a new connection (a moved address, PgBouncer, target_session_attrs) reaches the new
        primary. At most once per READ_ONLY_EXPIRE_EVERY_S unless `at_once`: while the server
        stays read-only, every refused write would otherwise have every request reconnect
        (the refused write's own connection is dropped anyway, see acquire)."""
        self.events.read_only_found += 1
        now = time.perf_counter()
        if now - self._read_only_logged_at >= READ_ONLY_LOG_EVERY_S:     # one line, not one per write
            self._read_only_logged_at = now
            log.warning("pool: the server takes no writes (read-only, %d times so far); every connection is "
                        "replaced on its next use", self.events.read_only_found)
        if self._pool is not None and (at_once or now - self._read_only_expired_at >= READ_ONLY_EXPIRE_EVERY_S):
            self._read_only_expired_at = now
            await self._pool.expire_connections()     # a counter: the replacing happens at each acquire

    def _needs_ping(self, state: _Connection) -> bool:
        """Idle past PRE_PING_AFTER_IDLE_S (with DB_POOL_PRE_PING), or idle since before
        the last connection fault: after a server restart every such connection is
        suspect, and a read retried after a fault gets a connection known alive."""
        if state.released_at <= self._fault_at:
            return True
        return (self.settings.db_pool_pre_ping
                and time.perf_counter() - state.released_at >= self.pre_ping_after_idle_s)

    def _timed_out(self) -> ServiceUnavailable:
        self.events.acquire_timeouts += 1
        if self._echo:
            log.warning("pool: no connection within %g s (%d waiting)", self.settings.db_pool_timeout, self.waiting)
        return ServiceUnavailable(
            f"no database connection became free within {self.settings.db_pool_timeout:g} s; try again later",
            code="pool_exhausted")

    async def _ping(self, conn: asyncpg.Connection, state: _Connection) -> bool:
        """True when the idle connection answers; otherwise it is dropped (the pool reconnects that slot)."""
        try:
            await conn.fetchval(PING.text, timeout=self.pre_ping_timeout_s)
            return True
        except Exception as exc:
            self.events.pre_ping_failures += 1
            log.warning("pool: pre-ping failed on backend pid %d (%s); replacing the connection",
                        state.pid, type(exc).__name__)
            _terminate(conn)
            return False

    async def _checkin(self, pool: asyncpg.Pool, conn: asyncpg.Connection, state: _Connection | None,
                       hold: _Hold, *, fault: bool = False, drop: bool = False) -> None:
        now = time.perf_counter()
        events = self.events
        held = now - hold.since
        events.releases += 1
        events.hold_ms.add(held * 1000.0)
        events.hold_histogram.observe(held)
        if held >= self.settings.db_leak_threshold_s and not hold.suspected:
            self._suspect(hold, now)
        if fault or drop:
            # The connection failed under a statement (lost, or no answer within the
            # client-side timeout), or its holder was cancelled: drop it at once. A
            # release would wait for a cancellation or a rollback that may never be
            # answered. After a fault, every connection idle since is pinged before use.
            if fault:
                self._fault_at = now
                events.faults += 1
                log.warning("pool: connection fault on backend pid %s; the connection was dropped",
                            state.pid if state else "?")
            try:
                conn.terminate()
            except asyncpg.InterfaceError:
                pass               # already closed and given back
            return
        if state is not None and now - state.opened_at >= self.settings.db_pool_recycle:
            events.recycles += 1
            if self._echo:
                log.info("pool: recycling backend pid %d after %.0f s", state.pid, now - state.opened_at)
            # Closing the connection hands its slot back empty; asyncpg refills the base size.
            try:
                await asyncio.shield(conn.close(timeout=CLOSE_TIMEOUT_S))
            except asyncpg.InterfaceError:
                pass               # lost meanwhile: already given back
            except Exception:
                conn.terminate()
            return
        if state is not None:
            state.released_at = now
        if self._echo:
            log.info("pool: checkin (backend pid %s) after %.2f ms held", state.pid if state else "?", held * 1000.0)
        try:
            await pool.release(conn)
        except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # The reset on release failed: asyncpg terminated the connection and the
            # caller's work is done, so this is no reason to fail its request.
            log.warning("pool: release failed (%s); the connection was dropped", type(exc).__name__)

    # -- leak suspicion ----------------------------------------------------------

    def _suspect(self, hold: _Hold, now: float) -> None:
        hold.suspected = True
        self.events.leaks_suspected += 1
        report = hold.describe(now)
        report["detected_at"] = _iso(time.time())
        self.events.recent_leaks.append(report)
        log.warning("pool: connection held for %.1f s by %s (request_id=%s): leak suspected",
                    report["held_ms"] / 1000.0, report["endpoint"], report["request_id"])

    async def _watch_for_leaks(self) -> None:
        """Report holds past the threshold while they last: a real leak never reaches release."""
        threshold = self.settings.db_leak_threshold_s
        interval = min(max(threshold / 4.0, 0.05), 5.0)
        while True:
            await asyncio.sleep(interval)
            now = time.perf_counter()
            for hold in list(self._holds):
                if not hold.suspected and now - hold.since >= threshold:
                    self._suspect(hold, now)

    def long_holds(self) -> list[dict]:
        """Checkouts still open past the leak threshold, longest first."""
        now = time.perf_counter()
        threshold = self.settings.db_leak_threshold_s
        held = [hold.describe(now) for hold in self._holds if now - hold.since >= threshold]
        return sorted(held, key=lambda item: -item["held_ms"])

    # -- state -------------------------------------------------------------------

    def state(self) -> dict[str, int]:
        """size, idle, in_use, overflow, waiting, max right now."""
        pool = self.raw
        size = pool.get_size()
        return {"size": size, "idle": pool.get_idle_size(), "in_use": len(self._holds),
                "overflow": max(0, size - self.settings.db_pool_size), "waiting": self.waiting,
                "max": pool.get_max_size()}

    def backend_pids(self) -> list[int]:
        """Server pids of the open connections (tests and diagnostics)."""
        return sorted(self._connections)


def _terminate(conn: asyncpg.Connection) -> None:
    """Close a checked-out connection at once; its slot goes back to asyncpg's queue, empty."""
    try:
        conn.terminate()
    except asyncpg.InterfaceError:
        pass               # already closed and given back when the loss was noticed
