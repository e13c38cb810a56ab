"""Probes of the production topology (replica, PgBouncer) against a real standby and pooler.

Kept apart from test_probe_db_faults.py and test_probe_ops.py, which probe other faults.
"""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from checks import eventually
from conftest import replay_everything
from topology import require_pgbouncer

from service import keys
from service.db import routing
from service.db.database import Database
from service.db.registry import Query
from service.topology.pgbouncer import PgBouncer, account_for, database_of


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def _emit_wal(database_url: str) -> None:
    """A little WAL on the primary (its position moves), touching no table."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_logical_emit_message(false, 'cj-probe', 'x')")
    finally:
        await conn.close()


async def test_an_unreachable_replica_does_not_grow_the_monitor_samples_without_bound(
        make_api, settings, monkeypatch):
    """Each check samples the primary's WAL position before it asks the replica; a sample
    leaves only when the replica has replayed it. While the replica was unreachable (or
    paused, or far behind) every check kept one more, for as long as that lasted: two a
    second, about 20 MB a day in every process, never given back until it caught up."""
    monkeypatch.setattr(routing, "MAX_SAMPLES", 20, raising=False)
    api = await make_api(settings.replace(database_replica_url="postgresql://postgres@127.0.0.1:1/nowhere",
                                          cache_enabled=False))
    router = api.client.app[keys.DB].router
    for _ in range(100):
        await router.check_once()
    assert router.state == routing.DOWN
    assert len(router._samples) <= 20


@pytest.mark.usefixtures("standby")
async def test_a_long_pause_keeps_the_lag_measured_from_its_first_unreplayed_write(
        make_api, settings, standby, database_url, monkeypatch):
    """With the samples bounded, the oldest unreplayed one still dates the lag: a replica
    paused through far more checks than are kept reports a lag from the pause's first
    write (never less: merged samples keep the older time), is bypassed meanwhile, and is
    up again, every sample gone, once it has replayed everything."""
    monkeypatch.setattr(routing, "MAX_SAMPLES", 20, raising=False)
    api = await make_api(settings.replace(database_replica_url=standby.url(_database_name(database_url)),
                                          db_replica_max_lag_s=0.5, cache_enabled=False))
    router = api.client.app[keys.DB].router
    await replay_everything(standby, database_url)
    await eventually(lambda: router.state == routing.UP and router.lag_s == 0.0, "replica up and caught up")
    standby.pause_replay()
    try:
        paused_at = time.monotonic()
        await _emit_wal(database_url)
        for _ in range(100):
            await _emit_wal(database_url)
            await router.check_once()
            await asyncio.sleep(0.02)
        checked = time.monotonic()
        assert len(router._samples) <= 20
        assert router.state == routing.LAGGING
        # The first unreplayed sample was sent after paused_at, before the first check.
        assert router.lag_s >= (checked - paused_at) - 1.0, (router.lag_s, checked - paused_at)
    finally:
        standby.resume_replay()
    await replay_everything(standby, database_url)
    # Lag 0: at that check the replica had replayed every sample kept, and none is left.
    await eventually(lambda: router.state == routing.UP and router.lag_s == 0.0 and not router._samples,
                     "replica up again once replayed, every sample gone", timeout=60)


@pytest.fixture
def one_server_connection_pgbouncer(pg_server):
    """A PgBouncer (transaction mode) with one server connection: every client's statements
    run on it, so whatever one leaves on its session, the next one finds."""
    require_pgbouncer()
    admin_url, server = pg_server
    workdir = Path(tempfile.mkdtemp(prefix="cj-pgbouncer-one-"))
    bouncer = PgBouncer(admin_url, workdir, run_as=account_for(server.system_user if server else None),
                        pool_size=1).start()
    try:
        yield bouncer
    finally:
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_a_batched_read_through_pgbouncer_leaves_no_prepared_statement_on_the_server_connection(
        settings, database_url, one_server_connection_pgbouncer):
    """Exports read their posts with `Session.batches`, a server-side cursor. asyncpg
    prepares a cursor's query as a *named* statement (`__asyncpg_stmt_<n>__`) even with
    DB_STATEMENT_CACHE_SIZE=0, and closes it only once the cursor is garbage-collected and
    a later statement runs on that client connection: through PgBouncer in transaction
    mode, after the transaction, on whichever server connection that statement gets. So an
    export that stopped half-way (failed over its owner's result bytes, cancelled, or the
    worker stopping) left the statement on its server connection for that connection's
    life, where the next client of PgBouncer found it; another process (an instance, a
    worker) whose counter reached the same <n> then had its own cursor refused: `prepared
    statement "__asyncpg_stmt_<n>__" already exists`."""
    bounced = one_server_connection_pgbouncer.url(database_of(database_url))
    async with Database.connect(bounced, settings.replace(db_statement_cache_size=0)) as db:
        for stop_after_first in (True, False):
            batches = []
            with pytest.raises(_Stopped) if stop_after_first else contextlib.nullcontext():
                async with db.transaction() as tx:
                    async for batch in tx.batches(GENERATE, 3, upto=10):
                        batches.append([row["g"] for row in batch])
                        if stop_after_first:
                            raise _Stopped
            assert batches == ([[1, 2, 3]] if stop_after_first else [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]])
            other = await asyncpg.connect(bounced, statement_cache_size=0)
            try:
                left = await other.fetch("SELECT name, statement FROM pg_prepared_statements")
            finally:
                await other.close()
            assert left == [], left


class _Stopped(Exception):
    """An export stopping half-way through its cursor."""


GENERATE = Query("probe/generate", "SELECT g FROM generate_series(1, $1::int) AS g ORDER BY g", params=("upto",))


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args, named", [
    (["--port", "65535"], "--port"),                   # instance 2 would take 65536
    (["--port", "-1"], "--port"),
    (["--pgbouncer-port", "70000"], "--pgbouncer-port"),
    (["--prometheus-port", "65536"], "--prometheus-port"),
    (["--scrape-interval", "15"], "--scrape-interval"),  # Prometheus wants a unit: 15s
])
def test_run_py_topology_refuses_bad_options_before_starting_anything(tmp_path, args, named):
    """The options were taken as given: `--port 65535` started the primary, PgBouncer and
    instance 1, then instance 2 died on PORT 65536, and the box stopped everything and
    ended in a traceback (exit 1); a bad scrape interval got as far as Prometheus."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DB_"))}
    env["VAR_DIR"] = str(tmp_path / "var")
    done = subprocess.run([sys.executable, "run.py", "topology", "--dir", str(tmp_path / "box"), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    errors = done.stderr.strip().splitlines()
    assert named in errors[-1] and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "box" / "primary").exists(), "a server was started"


async def test_behind_pgbouncer_the_capacity_check_counts_only_the_direct_connections(
        make_api, settings, database_url, pgbouncer):
    """Every worker's pool max was counted against the server's max_connections also when
    DATABASE_URL goes through PgBouncer, whose own pool (default_pool_size) is what the server
    sees of them: the deployment README advises (beyond a few instances, PgBouncer in between)
    got a critical 'put PgBouncer in front' at every start and in every /api/health/database,
    with PgBouncer in front. Only the LISTEN connections (DATABASE_DIRECT_URL) reach the server
    from each worker; an overcommitted direct set-up is still critical."""
    from service.cli.serve import _pool_capacity_warning
    from service.db.database import Database

    bounced = pgbouncer.url(database_of(database_url))
    async with Database.connect(database_url, settings) as direct:
        async with direct.session() as session:
            max_connections = int(await session.conn.fetchval("SHOW max_connections"))
        huge = dict(workers=4, db_pool_size=2, db_max_overflow=max_connections)
        behind = settings.replace(database_url=bounced, database_direct_url=database_url,
                                  db_statement_cache_size=0, **huge)
        assert await _pool_capacity_warning(direct, behind) is None
        warning = await _pool_capacity_warning(direct, settings.replace(**huge))
        assert warning is not None and f"max_connections {max_connections}" in warning

    api = await make_api(behind)
    admin = await api.user(admin=True)
    report = await api.get("/api/health/database", admin)
    assert report["pool"]["max"] == 2 + max_connections
    critical = [a["message"] for a in report["recommendations"] if a["severity"] == "critical"]
    assert critical == [], critical


async def test_a_standby_of_another_cluster_is_never_read(make_api, settings, database_url, pg_server):
    """DATABASE_REPLICA_URL naming a standby of another cluster (a wrong host or port in
    the setting) was served: it is a standby, it answers, it has a database of that name,
    so its rows, which are not this primary's, went to users as theirs. The monitor now
    compares the clusters' system identifiers and keeps such a replica down."""
    if pg_server[1] is None:
        pytest.skip("a second cluster is made with the embedded server; TEST_DATABASE_URL is external")
    from service.db.embedded import EmbeddedPostgres
    from service.topology.standby import Standby
    name = _database_name(database_url)
    workdir = Path(tempfile.mkdtemp(prefix="cj-foreign-"))
    other = EmbeddedPostgres(workdir / "pgdata", delete_on_stop=True).start()
    foreign = None
    try:
        conn = await asyncpg.connect(other.uri("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        foreign = Standby(other.uri("postgres"), workdir / "standby", run_as=other.system_user)
        await asyncio.to_thread(lambda: foreign.create().start().wait_streaming())
        api = await make_api(settings.replace(database_replica_url=foreign.url(name), cache_enabled=False))
        router = api.client.app[keys.DB].router
        await router.check_once()
        assert router.state == routing.DOWN, (router.state, router.last_error)
        assert "another cluster" in router.last_error
        user = await api.user()
        await api.client_of(user, name="ours")
        body = await api.get("/api/clients", user)                 # from the primary
        assert [item["name"] for item in body["items"]] == ["ours"]
        assert all(target != "replica" for target, _ in router.reads), router.reads
        await api.client.close()
    finally:
        if foreign is not None:
            foreign.destroy()
        other.stop()
        shutil.rmtree(workdir, ignore_errors=True)
