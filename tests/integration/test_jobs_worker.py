"""Worker reliability: a `run.py worker` killed with SIGKILL mid-export and the job
finishing exactly once after the rescue; SIGTERM giving a running job back; two
workers never running the same job; maintenance scheduled once across workers."""
from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

from jobutil import chunk_insert_waiting, held_lock, insert_posts, job_row, wait_for, wait_job, worker_settings

from service.db.database import Database
from service.db.pool import Pool
from service.jobs.worker import Worker

ROOT = Path(__file__).resolve().parents[2]


def _worker_process(database_url: str, tmp_path: Path, **env) -> subprocess.Popen:
    environment = {**os.environ, "DATABASE_URL": database_url, "VAR_DIR": str(tmp_path), "SECRET_KEY": "k" * 32,
                   "JOBS_RESCUE_AFTER_S": "2", "JOBS_POLL_INTERVAL_S": "0.5", "LOG_LEVEL": "WARNING", **env}
    return subprocess.Popen([sys.executable, "run.py", "worker"], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def _running_in(database_url: str, job_id: str, pid: int):
    row = await job_row(database_url, job_id)
    return row if row["status"] == "running" and f":{pid}:" in (row["worker_id"] or "") else None


async def _stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.kill()
    out, _ = await asyncio.to_thread(process.communicate, timeout=30)
    return out.decode(errors="replace")


async def test_worker_killed_mid_export_job_finishes_exactly_once_after_rescue(api, make_api, settings, db_conn,
                                                                                database_url, tmp_path):
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 3000, content_size=500)
    process = _worker_process(database_url, tmp_path)
    try:
        async with held_lock(database_url, "LOCK TABLE job_result_chunks IN SHARE MODE") as lock:
            job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202)
            await wait_for(lambda: _running_in(database_url, job["id"], process.pid), what="the worker to claim it")
            await wait_for(lambda: chunk_insert_waiting(lock), what="the export's first chunk")

            async def progressed():
                row = await job_row(database_url, job["id"])
                return row["progress_done"] > 0
            await wait_for(progressed, what="a heartbeat with progress")
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait, 30)
            assert process.returncode == -signal.SIGKILL
    finally:
        await _stop(process)
    # A worker of this process rescues it once the heartbeat is JOBS_RESCUE_AFTER_S old, and runs it again.
    rescuer = await make_api(worker_settings(settings))
    done = await wait_job(rescuer, user, job["id"], timeout=90)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert await db_conn.fetchval("SELECT count(*) FROM job_results WHERE job_id = $1::uuid", job["id"]) == 1
    attempts = await db_conn.fetch("SELECT DISTINCT attempt FROM job_result_chunks WHERE job_id = $1::uuid",
                                   job["id"])
    assert [r["attempt"] for r in attempts] == [2]
    resp = await rescuer.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
    rows = list(csv.reader(io.StringIO((await resp.read()).decode(), newline="")))
    assert len(rows) == 3001 and len({r[0] for r in rows[1:]}) == 3000 == done["result"]["rows"]


async def test_sigterm_gives_a_running_job_back(api, settings, db_conn, database_url, tmp_path):
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 3000, content_size=500)
    process = _worker_process(database_url, tmp_path)
    try:
        async with held_lock(database_url, "LOCK TABLE job_result_chunks IN SHARE MODE") as lock:
            job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202)
            await wait_for(lambda: _running_in(database_url, job["id"], process.pid), what="the worker to claim it")
            await wait_for(lambda: chunk_insert_waiting(lock), what="the export's first chunk")
            process.send_signal(signal.SIGTERM)
            # The job cannot finish while the lock is held: after the grace period it is given back.
            await asyncio.to_thread(process.wait, 60)
        assert process.returncode == 0, await _stop(process)
    finally:
        await _stop(process)
    row = await job_row(database_url, job["id"])
    assert row["status"] == "queued" and row["attempts"] == 0 and row["worker_id"] is None


async def _workers(settings, count: int, **changes) -> list[tuple[Worker, Pool]]:
    started = []
    for _ in range(count):
        custom = worker_settings(settings, **changes)
        pool = Pool(custom.database_url, custom)
        await pool.open()
        worker = Worker(Database(pool), custom)
        await worker.start()
        started.append((worker, pool))
    return started


async def _stop_workers(started) -> None:
    for worker, pool in started:
        await worker.stop()
        await pool.close()


async def test_two_workers_never_run_the_same_job(api, settings, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 20)
    ids = [(await api.post(f"/api/projects/{project['id']}/reports", user, expect=202))["id"] for _ in range(60)]
    started = await _workers(settings, 2, jobs_concurrency=4)
    try:
        async def all_done():
            rows = await db_conn.fetch("SELECT status, attempts FROM jobs WHERE id = ANY($1::uuid[])", ids)
            return all(r["status"] == "succeeded" for r in rows) and rows
        rows = await wait_for(all_done, timeout=120, what="60 reports")
    finally:
        await _stop_workers(started)
    assert all(r["attempts"] == 1 for r in rows)
    ran = [{str(i) for i in worker.ran} & set(ids) for worker, _ in started]
    assert not ran[0] & ran[1]
    assert ran[0] | ran[1] == set(ids)
    assert await db_conn.fetchval("SELECT count(*) FROM job_results WHERE job_id = ANY($1::uuid[])", ids) == 60


async def test_maintenance_runs_once_across_two_workers(api, settings, db_conn):
    user = await api.user()
    project = await api.project_of(user)
    await db_conn.execute("""INSERT INTO access_tokens (token_hash, user_id, expires_at)
                             VALUES ('\\x00ff'::bytea, $1::uuid, now() - interval '1 hour')""", user.id)
    old = await api.post(f"/api/projects/{project['id']}/reports", user, expect=202)
    await db_conn.execute("""UPDATE jobs SET status = 'succeeded', finished_at = now() - interval '200 hours'
                             WHERE id = $1::uuid""", old["id"])
    interval = 86399.0             # a slot no other test uses
    started = await _workers(settings, 2, jobs_maintenance_interval_s=interval)
    try:
        async def finished():
            rows = await db_conn.fetch("SELECT status, attempts FROM jobs WHERE dedupe_key LIKE $1",
                                       f"maintenance:{interval:g}:%")
            # Both workers must have asked for the slot: the second may start after the
            # first already finished the job, and then its (refused) ask is what we prove.
            asked = all(worker.maintenance_asked >= 1 for worker, _ in started)
            return rows if asked and rows and all(r["status"] == "succeeded" for r in rows) else None
        rows = await wait_for(finished, timeout=60, what="the maintenance job asked by both workers")
    finally:
        await _stop_workers(started)
    assert all(worker.maintenance_asked >= 1 for worker, _ in started)
    assert sum(worker.maintenance_enqueued for worker, _ in started) == len(rows) == 1
    assert rows[0]["attempts"] == 1
    assert await db_conn.fetchval("SELECT count(*) FROM access_tokens WHERE token_hash = '\\x00ff'::bytea") == 0
    assert await db_conn.fetchval("SELECT count(*) FROM jobs WHERE id = $1::uuid", old["id"]) == 0
