"""Replica routing: list and detail reads on a streaming replica, with read-your-writes.

With DATABASE_REPLICA_URL set, `Database` asks the router where each read of a GET
(or HEAD) request goes. Writes, reads inside write requests, and every query that is
not a list or detail of clients, projects, runs or posts stay on the primary (auth
lookups too: a revoked token must not live on in a lagging replica).

Read-your-writes. After each acknowledged write (the AFTER_WRITE hook, which runs
after the commit and before the response) the writer's fence is raised to the
primary's pg_current_wal_lsn(), in the unlogged table replica_fences on the primary,
where every worker and every instance sees it. A read of that user goes to the
replica only if the replica's replay LSN, as last measured, is at or past the fence:
replay only moves forward, so the replica then holds the write. The fence is read on
the primary once per request (one indexed row); a fence this process wrote itself and
that is still ahead of the replica sends the read to the primary without asking.

State, measured every CHECK_INTERVAL_S on a dedicated replica connection:
- the primary's WAL position P is sampled (with the time the question was sent), then
  the replica's replay position R is read;
- lag: the age of the oldest sample the replica has not replayed (0 when it has replayed
  them all). It needs no clock shared by the two servers and does not grow when the
  primary is idle, unlike now() - pg_last_xact_replay_timestamp();
- covered_at: the time of the newest sample at or below R. Every commit acknowledged
  before it is on the replica: the response cache stores a replica answer only if the
  entry's namespace was not invalidated after that time (cache/response_cache.py),
  so a lagging replica cannot put back what an invalidation just removed.
- up (routing reads), lagging (lag > DB_REPLICA_MAX_LAG_S), down (the check failed,
  or the server is not in recovery any more): anything but up is bypassed. It comes
  back by itself at the next good check.

A replica read that fails (connection lost, pool timeout, a query cancelled by a
conflict with recovery) is run again on the primary: reads have no side effects. So is
a read in flight when the monitor finds the replica down (cut_when_down): a partition
would otherwise hold it for the client-side command timeout.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from service.context import RequestContext
from service.db.errors import is_connection_fault
from service.db.pool import Pool, connect
from service.db.registry import query
from service.errors import ApiError, ServiceUnavailable

if TYPE_CHECKING:
    from aiohttp import web

    from service.db.database import Database
    from service.settings import Settings

log = logging.getLogger("service.db.routing")

PRIMARY, REPLICA = "primary", "replica"
UP, LAGGING, DOWN, STARTING = "up", "lagging", "down", "starting"

CHECK_INTERVAL_S = 0.5
CHECK_TIMEOUT_S = 2.0
# The resources whose lists and details may be read on the replica. Jobs are not: a
# worker, not the reader, changes them, so no fence of the reader covers their state.
REPLICA_RESOURCES = frozenset({"clients", "projects", "runs", "posts"})
READ_METHODS = frozenset({"GET", "HEAD"})
MAX_LOCAL_FENCES = 10000
# Primary samples kept while the replica has not replayed them (an hour of checks): past
# it the two oldest are merged, so a replica down, paused or far behind for days costs
# bounded memory (one more sample a check grew ~20 MB a day per process).
MAX_SAMPLES = 7200

FENCE_OF = query("replica/fence_of")
FENCE_RECORD = query("replica/fence_record")
PRIMARY_LSN = query("replica/primary_lsn")
REPLAY_STATE = query("replica/replay_state")


class PrimaryUnanswered(Exception):
    """The monitor could not sample the primary's WAL position."""


class ReplicaDown(Exception):
    """A read chose the replica, which was found down before it ran: it runs on the primary."""


def is_detail(name: str) -> bool:
    """A single-statement read the replica may answer: `<resource>/get`."""
    resource, _, kind = name.partition("/")
    return kind == "get" and resource in REPLICA_RESOURCES


class ReplicaRouter:
    def __init__(self, dsn: str, settings: Settings) -> None:
        self.dsn = dsn
        self.settings = settings
        self.max_lag_s = settings.db_replica_max_lag_s
        self.pool = Pool(dsn, settings)
        self.state = STARTING
        self.lag_s: float | None = None
        self.replay_lsn: int | None = None
        self.replay_lsn_text: str | None = None
        self.covered_at: float | None = None
        self.checked_at: float | None = None
        self.last_error: str | None = None
        self.checks = 0
        # (target, reason) -> reads routed
        self.reads: dict[tuple[str, str], int] = {}
        self._samples: deque[tuple[float, int]] = deque()
        self._local_fences: OrderedDict[str, float] = OrderedDict()
        # Users whose last fence could not be recorded: since when (monotonic), see after_write.
        self._unfenced: OrderedDict[str, float] = OrderedDict()
        self._db: Database | None = None
        self._probe = None                   # a Database over the monitor's own connection
        self._conn = None
        self._task: asyncio.Task | None = None
        self._checked = asyncio.Event()
        # The deadlines of the replica reads in flight: cut when the replica is found down.
        self._reads_in_flight: set[asyncio.Timeout] = set()

    # -- life --------------------------------------------------------------------------

    async def start(self, db: Database, wait: float = 5.0) -> None:
        """Monitor from now on; wait (bounded) for the first check so reads route at once."""
        self._db = db
        self._task = asyncio.get_running_loop().create_task(self._monitor(), name="replica-monitor")
        try:
            await asyncio.wait_for(self._checked.wait(), wait)
        except TimeoutError:
            log.warning("replica not checked within %.0f s; reads go to the primary until it is", wait)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._close_probe()
        await self.pool.close()

    # -- where a read goes ---------------------------------------------------------------

    async def target(self, ctx: RequestContext | None) -> str:
        """PRIMARY or REPLICA for a list or detail read; decided once per request."""
        if ctx is None:
            return PRIMARY          # commands, jobs: no user, no request
        target = ctx.read_target
        if target is None:
            target, reason = await self._decide(ctx)
            ctx.read_target = target
            self.count(target, reason)
        if target == REPLICA:
            covered = self.covered_at if self.covered_at is not None else -math.inf
            ctx.replica_covered = covered if ctx.replica_covered is None else min(ctx.replica_covered, covered)
        return target

    async def _decide(self, ctx: RequestContext) -> tuple[str, str]:
        if ctx.method not in READ_METHODS:
            return PRIMARY, "write_request"
        if self.state != UP or self.replay_lsn is None:
            return PRIMARY, self.state if self.state != UP else STARTING
        if ctx.user_id is None:
            return PRIMARY, "anonymous"
        replayed = self.replay_lsn
        local = self._local_fences.get(ctx.user_id)
        if local is not None and local > replayed:
            return PRIMARY, "own_write"
        unfenced = self._unfenced.get(ctx.user_id)
        if unfenced is not None:
            if self.covered_at is None or self.covered_at < unfenced:
                return PRIMARY, "own_write"
            del self._unfenced[ctx.user_id]      # the replica holds every commit before it
        fence = await self._db.fetchval(FENCE_OF, user_id=ctx.user_id)
        if fence is not None and fence > replayed:
            return PRIMARY, "own_write"
        return REPLICA, "fresh"

    @asynccontextmanager
    async def cut_when_down(self) -> AsyncIterator[None]:
        """A read on the replica, cut short (TimeoutError, so it runs on the primary) as soon
        as the replica is found down. A partition (bytes stop, nothing closes) would
        otherwise hold it for the client-side command timeout (DB_STATEMENT_TIMEOUT_MS + 5 s)
        or DB_POOL_TIMEOUT, though the monitor knows within CHECK_TIMEOUT_S."""
        if self.state == DOWN:
            # Found down after this request chose the replica (while it waited for its fence).
            raise ReplicaDown(self.last_error or "the replica is down")
        async with asyncio.timeout(None) as deadline:
            self._reads_in_flight.add(deadline)
            try:
                yield
            finally:
                self._reads_in_flight.discard(deadline)

    def count(self, target: str, reason: str) -> None:
        key = (target, reason)
        self.reads[key] = self.reads.get(key, 0) + 1

    def fell_back(self, ctx: RequestContext, exc: BaseException) -> bool:
        """A replica read failed with exc: run it on the primary (True) or let it raise."""
        if isinstance(exc, ApiError) and (exc.status < 500 or exc.code == "query_timeout"):
            return False       # the primary would refuse it too, or take as long
        self.count(PRIMARY, "replica_error")
        ctx.read_target = PRIMARY
        if isinstance(exc, ServiceUnavailable):
            # Not cut: the other reads in flight find a lost connection by themselves, and a
            # pool timeout or a recovery conflict says the replica is busy, not gone.
            self._set_down(f"read failed: {exc}", cut=False)
        log.warning("replica read failed (%s: %s); answered from the primary", type(exc).__name__, exc)
        return True

    # -- read-your-writes --------------------------------------------------------------

    async def after_write(self, request: web.Request) -> None:
        """AFTER_WRITE hook: raise the writer's fence before the write is acknowledged."""
        from service import keys
        user = request.get(keys.USER)
        if user is None:
            return
        user_id = str(user.id)
        try:
            fence = float(await self._db.fetchval(FENCE_RECORD, user_id=user_id))
        except Exception as exc:
            # The write committed; answering 503 now would invite a duplicate. This
            # process reads the user from the primary instead (other processes cannot
            # know: README, Topology: read replica), until the replica covers this
            # moment: a commit acknowledged before a sample sent after now is at or
            # below that sample's position (covered_at, see check()). Not an infinite
            # fence: that kept the user off the replica for good.
            log.warning("could not record the read-your-writes fence of user %s: %s", user_id, exc)
            _remember(self._unfenced, user_id, time.monotonic())
            return
        _remember(self._local_fences, user_id, max(fence, self._local_fences.get(user_id, 0)))

    def failed_write(self, request: web.Request, exc: BaseException) -> None:
        """FAILED_WRITE hook: a write whose connection was lost or went unanswered may have
        committed (README, Topology and faults: look before repeating a create), and it
        raised no fence. The user's reads in this process go to the primary until the
        replica covers this moment, so the look finds the row if it is there. No database
        round trip: the primary has just failed this request."""
        from service import keys
        user = request.get(keys.USER)
        if user is not None and is_connection_fault(exc):
            _remember(self._unfenced, str(user.id), time.monotonic())

    # -- the monitor ---------------------------------------------------------------------

    async def _monitor(self) -> None:
        while True:
            await self.check_once()
            self._checked.set()
            await asyncio.sleep(CHECK_INTERVAL_S)

    async def check_once(self) -> None:
        """One check; a failure marks the replica down (and cuts its reads in flight only
        when the replica failed: a primary that does not answer says nothing of the replica,
        and a read already there may finish; new reads need the primary for their fence)."""
        try:
            await self.check()
        except asyncio.CancelledError:
            raise
        except PrimaryUnanswered as exc:
            self._set_down(f"the primary did not give its position: {exc}", cut=False)
        except Exception as exc:
            self._set_down(f"{type(exc).__name__}: {exc}")
            await self._close_probe()

    async def check(self) -> None:
        """Sample the primary's position, then the replica's; update lag, state, coverage."""
        sent = time.monotonic()
        try:
            primary = await self._db.fetchrow(PRIMARY_LSN)
        except Exception as exc:
            raise PrimaryUnanswered(f"{type(exc).__name__}: {exc}") from exc
        self._samples.append((sent, int(primary["lsn"])))
        if len(self._samples) > MAX_SAMPLES:
            self._merge_oldest()
        if not self.pool.is_open:
            await asyncio.wait_for(self.pool.open(), CHECK_TIMEOUT_S * 5)
        probe = await self._probe_db()
        row = await asyncio.wait_for(probe.fetchrow(REPLAY_STATE), CHECK_TIMEOUT_S)
        now = time.monotonic()
        self.checks += 1
        self.checked_at = now
        if not row["in_recovery"]:
            self._samples.clear()
            self._set_down("the server is not a standby (promoted?)")
            return
        if row["system_identifier"] != primary["system_identifier"]:
            # A standby of another cluster (a DATABASE_REPLICA_URL naming the wrong server):
            # its rows are not this primary's, and its replay positions mean nothing here.
            self._samples.clear()
            self._set_down(f"the server is a standby of another cluster (system identifier "
                           f"{row['system_identifier']}, the primary's {primary['system_identifier']})")
            return
        replayed = int(row["replay_lsn"])
        self.replay_lsn, self.replay_lsn_text = replayed, row["replay_lsn_text"]
        samples = self._samples
        while samples and samples[0][1] <= replayed:
            self.covered_at = samples.popleft()[0]
        self.lag_s = now - samples[0][0] if samples else 0.0
        self.last_error = None
        self._set_state(LAGGING if self.lag_s > self.max_lag_s else UP)

    def _merge_oldest(self) -> None:
        """The two oldest samples as one: the older time with the newer position. Never
        flatters the replica: a replay position between the two dates the lag from the
        older time (true: the newer, or the older), and covers (covered_at) only once past
        the newer position, with the older time (true: the newer)."""
        samples = self._samples
        sent, _ = samples.popleft()
        _, lsn = samples.popleft()
        samples.appendleft((sent, lsn))

    async def _probe_db(self):
        if self._probe is None or self._conn is None or self._conn.is_closed():
            from service.db.database import Database, OneConnection
            self._conn = await connect(self.dsn, self.settings, application_name="cj-replica-monitor",
                                       timeout=CHECK_TIMEOUT_S)
            self._probe = Database(OneConnection(self._conn))
        return self._probe

    async def _close_probe(self) -> None:
        conn, self._conn, self._probe = self._conn, None, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()

    def _set_down(self, reason: str, *, cut: bool = True) -> None:
        self.last_error = reason
        self.lag_s = None
        self._set_state(DOWN, cut=cut)

    def _set_state(self, state: str, *, cut: bool = True) -> None:
        if state == DOWN and cut and self._reads_in_flight:
            # Each deadline is cut once: one already expiring cannot be rescheduled (RuntimeError).
            cut, self._reads_in_flight = self._reads_in_flight, set()
            now = asyncio.get_running_loop().time()
            for deadline in cut:
                deadline.reschedule(now)
        if state != self.state:
            level = logging.INFO if state == UP else logging.WARNING
            log.log(level, "replica %s -> %s%s", self.state, state,
                    f" ({self.last_error})" if state == DOWN and self.last_error else
                    f" (lag {self.lag_s:.1f} s > {self.max_lag_s} s)" if state == LAGGING else "")
            self.state = state

    # -- reporting -----------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self.state == UP

    def view(self) -> dict[str, Any]:
        """The `replica` block of /api/health/database."""
        by_target: dict[str, dict[str, int]] = {PRIMARY: {}, REPLICA: {}}
        for (target, reason), count in sorted(self.reads.items()):
            by_target[target][reason] = count
        return {
            "configured": True, "state": self.state, "available": self.available,
            "lag_s": None if self.lag_s is None else round(self.lag_s, 3), "max_lag_s": self.max_lag_s,
            "replay_lsn": self.replay_lsn_text,
            "checked_s_ago": None if self.checked_at is None else round(time.monotonic() - self.checked_at, 3),
            "last_error": self.last_error,
            "reads": {"total": {t: sum(v.values()) for t, v in by_target.items()}, **by_target},
            "pool": self.pool.state() if self.pool.is_open else None,
        }


def _remember(fences: OrderedDict[str, float], user_id: str, value: float) -> None:
    """Set a user's entry, newest last, at most MAX_LOCAL_FENCES kept."""
    fences[user_id] = value
    fences.move_to_end(user_id)
    while len(fences) > MAX_LOCAL_FENCES:
        fences.popitem(last=False)


def unconfigured_view() -> dict[str, Any]:
    return {"configured": False, "state": "off", "available": False, "lag_s": None, "reads": {}}
