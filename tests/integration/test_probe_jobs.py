"""Adversarial probes of the background jobs (docs/API.md section 8): what a frozen or
cut-off worker, a deletion during an export, and hostile input do to the queue."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from jobutil import chunk_insert_waiting, held_lock, insert_posts, job_row, wait_for, wait_job, worker_settings
from live import served

from service.settings import JOB_HOURS_MAX, JOB_SECONDS_MAX, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _worker_process(database_url: str, tmp_path: Path, **env) -> subprocess.Popen:
    environment = {**os.environ, "DATABASE_URL": database_url, "VAR_DIR": str(tmp_path), "SECRET_KEY": "k" * 32,
                   "JOBS_RESCUE_AFTER_S": "2", "JOBS_POLL_INTERVAL_S": "0.5", "JOBS_CONCURRENCY": "1",
                   "LOG_LEVEL": "WARNING", **env}
    return subprocess.Popen([sys.executable, "run.py", "worker"], cwd=ROOT, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def _running_in(database_url: str, job_id: str, pid: int):
    row = await job_row(database_url, job_id)
    return row if row["status"] == "running" and f":{pid}:" in (row["worker_id"] or "") else None


@asynccontextmanager
async def frozen_mid_export(api, db_conn, database_url: str, tmp_path: Path, user, project):
    """A `run.py worker` frozen (SIGSTOP) in the middle of an export, as it writes its first
    result chunk: its transaction stays open, as for a worker that hangs or whose host is
    cut off while its connection lives on. It is stopped where it asks to store that chunk
    (job_result_chunks, locked meanwhile). Yields the job."""
    await insert_posts(db_conn, user.id, project["id"], 3000, content_size=500)
    process = _worker_process(database_url, tmp_path)
    try:
        async with held_lock(database_url, "LOCK TABLE job_result_chunks IN SHARE MODE"):
            job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202)
            await wait_for(lambda: _running_in(database_url, job["id"], process.pid), what="the worker to claim it")
            await wait_for(lambda: chunk_insert_waiting(db_conn), what="the export's first chunk")
            process.send_signal(signal.SIGSTOP)
        # The lock is gone: the server answers the frozen client, whose transaction stays open.

        async def client_waited():
            return await db_conn.fetchval("""SELECT count(*) FROM pg_stat_activity
                                              WHERE wait_event_type = 'Client' AND state <> 'idle'
                                                AND query LIKE '%INSERT INTO job_result_chunks%'""")
        await wait_for(client_waited, what="the frozen worker's open transaction")
        yield job
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        await asyncio.to_thread(process.communicate, timeout=30)


async def test_a_frozen_workers_export_is_rescued_and_finished_by_another_worker(api, make_api, settings, db_conn,
                                                                                 database_url, tmp_path):
    """Before: the result chunk's foreign key held a KEY SHARE lock on the job row for the
    whole export, and the rescue's `FOR UPDATE SKIP LOCKED` skipped that row: the job of a
    frozen worker stayed `running` for as long as its connection lived (hours, for a
    cut-off host), and never ran elsewhere."""
    user = await api.user()
    project = await api.project_of(user)
    async with frozen_mid_export(api, db_conn, database_url, tmp_path, user, project) as job:
        rescuer = await make_api(worker_settings(settings))
        done = await wait_job(rescuer, user, job["id"], timeout=30)
        assert done["status"] == "succeeded" and done["attempts"] == 2, done
        assert done["result"]["rows"] == 3000
        resp = await rescuer.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
        assert resp.status == 200 and len(await resp.read()) == done["result"]["bytes"]


async def test_a_project_deleted_while_its_export_runs_is_deleted_at_once(api, db_conn, database_url, tmp_path):
    """Before: the DELETE waited for the export's transaction (the job row it cascades to
    was locked by the chunks' foreign key) - for as long as the export ran, or until the
    statement timeout failed the deletion."""
    user = await api.user()
    project = await api.project_of(user)
    async with frozen_mid_export(api, db_conn, database_url, tmp_path, user, project) as job:
        started = time.monotonic()
        await asyncio.wait_for(api.delete(f"/api/projects/{project['id']}", user), timeout=10)
        assert time.monotonic() - started < 5
        await api.get(f"/api/jobs/{job['id']}", user, expect=404)
    # The frozen attempt is gone with its connection: nothing of the job is left.
    for table in ("jobs", "job_results", "job_result_chunks"):
        column = "id" if table == "jobs" else "job_id"
        assert await db_conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1::uuid", job["id"]) == 0


async def _result_rows(db_conn, job_id: str) -> tuple[int, int]:
    return (await db_conn.fetchval("SELECT count(*) FROM job_results WHERE job_id = $1::uuid", job_id),
            await db_conn.fetchval("SELECT count(*) FROM job_result_chunks WHERE job_id = $1::uuid", job_id))


async def test_a_deleted_job_takes_its_result_with_it(make_api, settings, db_conn):
    """Results are bound to their job by a trigger (migration 0170), not a foreign key: a
    job deleted with its project, its client, its owner or by retention leaves no result behind."""
    api = await make_api(worker_settings(settings))
    done = {}
    for how in ("project", "client", "owner", "retention"):
        user = await api.user()
        client = await api.client_of(user)
        project = await api.project_of(user, client["id"])
        await insert_posts(db_conn, user.id, project["id"], 3000, content_size=500)
        job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202)
        done[how] = await wait_job(api, user, job["id"])
        assert done[how]["status"] == "succeeded" and await _result_rows(db_conn, job["id"]) == (1, 2)
        if how == "project":
            await api.delete(f"/api/projects/{project['id']}", user)
        elif how == "client":
            await api.delete(f"/api/clients/{client['id']}", user)
        elif how == "owner":
            await db_conn.execute("DELETE FROM users WHERE id = $1::uuid", user.id)
        else:
            await db_conn.execute("UPDATE jobs SET finished_at = now() - interval '200 hours' WHERE id = $1::uuid",
                                  job["id"])
            await db_conn.execute("DELETE FROM jobs WHERE finished_at < now() - interval '168 hours' "
                                  "AND id = $1::uuid", job["id"])
        assert await _result_rows(db_conn, job["id"]) == (0, 0), how


def _rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


async def test_an_export_of_the_largest_posts_holds_a_bounded_batch_in_memory(api, db_conn, database_url, tmp_path):
    """Posts at their largest (10,000 characters of 4 UTF-8 bytes each: 40 KB) read
    JOBS_EXPORT_BATCH_ROWS (1,000) at a time made a batch of 40 MB, held as records,
    then as CSV text, then as bytes: the worker's memory grew by a multiple of it."""
    user = await api.user()
    project = await api.project_of(user)
    await db_conn.execute("""
        INSERT INTO posts (owner_id, project_id, content, word_count, status)
        SELECT $1::uuid, $2::uuid, repeat(chr(128512), 10000), 1, 'approved'
        FROM generate_series(1, 2000)""", user.id, project["id"])
    process = _worker_process(database_url, tmp_path)
    try:
        await wait_for(lambda: db_conn.fetchval("SELECT count(*) FROM job_workers WHERE pid = $1 AND stopped_at IS NULL",
                                                process.pid), what="the worker to start")
        before = _rss_peak_kib(process.pid)
        job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202, json={"format": "jsonl"})
        done = await wait_job(api, user, job["id"], timeout=120)
        assert done["status"] == "succeeded", done
        grown_mib = (_rss_peak_kib(process.pid) - before) / 1024
    finally:
        process.kill()
        await asyncio.to_thread(process.communicate, timeout=30)
    print(f"export of {done['result']['bytes'] / 2**20:.0f} MiB: worker peak grew {grown_mib:.0f} MiB")
    assert grown_mib < 48


async def test_an_idempotency_key_reused_for_another_project_or_kind_is_422(api):
    """Before: a report of project B asked with the key of an export of project A was
    answered 200 with that export (another project's data, as if it were the report)."""
    user = await api.user()
    first, second = await api.project_of(user), await api.project_of(user)
    key = {"Idempotency-Key": "probe-key-1"}
    _, export = await api.call("POST", f"/api/projects/{first['id']}/exports", user, expect=202, headers=key)
    for path in (f"/api/projects/{first['id']}/reports", f"/api/projects/{second['id']}/exports",
                 f"/api/projects/{second['id']}/reports"):
        _, body = await api.call("POST", path, user, expect=422, headers=key)
        assert body["error"]["code"] == "idempotency_key_reused" and body["error"]["field"] == "Idempotency-Key"
    # The same request again is still answered with its first job, as documented.
    _, again = await api.call("POST", f"/api/projects/{first['id']}/exports", user, expect=200, headers=key)
    assert again["id"] == export["id"]
    assert [job["id"] for job in (await api.get("/api/jobs", user))["items"]] == [export["id"]]


@pytest.mark.parametrize("args", [("serve", "--port", "70000"), ("serve", "--port", "-1"), ("serve", "--workers", "0"),
                                  ("serve", "--workers", "-2"), ("serve", "--workers", "65"),
                                  ("worker", "--concurrency", "1000"), ("worker", "--concurrency", "0")])
def test_an_option_out_of_its_variables_range_is_one_line_and_exit_2(tmp_path, args):
    """Before: `serve --workers 0` (or -2, or --port 70000) started and kept running while
    serving nothing; `worker --concurrency 1000` ran past JOBS_CONCURRENCY's bound of 64."""
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x", "VAR_DIR": str(tmp_path),
           "SECRET_KEY": "k" * 32}
    done = subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr and f"argument {args[1]}: must be" in done.stderr.splitlines()[-1]


@pytest.mark.parametrize("variable, value", [("JOBS_RETENTION_HOURS", "100000000"), ("JOBS_RESCUE_AFTER_S", "1e12"),
                                             ("JOBS_BACKOFF_MAX_S", "1e300"), ("JOBS_MAINTENANCE_INTERVAL_S", "1e300")])
def test_a_job_setting_past_what_postgresql_can_count_is_refused_at_start(tmp_path, variable, value):
    """Before: JOBS_RETENTION_HOURS=100000000 ("keep for ever") was accepted, and every
    maintenance job then failed (`timestamp out of range` in sql/jobs/prune.sql): expired
    tokens and old jobs were never deleted again; JOBS_RESCUE_AFTER_S=1e12 failed every
    rescue (and the maintenance scheduled after it, in the same beat)."""
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value, "VAR_DIR": str(tmp_path), "SECRET_KEY": "k" * 32})


async def test_the_largest_accepted_job_settings_still_rescue_and_maintain(make_api, settings, db_conn):
    interval = 86396.0             # a maintenance slot no other test uses
    api = await make_api(worker_settings(settings, jobs_retention_hours=JOB_HOURS_MAX,
                                         jobs_rescue_after_s=JOB_SECONDS_MAX, jobs_backoff_max_s=JOB_SECONDS_MAX,
                                         jobs_maintenance_interval_s=interval))

    async def maintained():
        return await db_conn.fetchval("SELECT status FROM jobs WHERE dedupe_key LIKE $1 AND status <> 'queued' "
                                      "AND status <> 'running'", f"maintenance:{interval:g}:%")
    assert await wait_for(maintained, what="the maintenance job") == "succeeded"
    assert api is not None


async def test_maintenance_prunes_a_backlog_larger_than_one_statement_may_take(make_api, settings, db_conn):
    """Before: the prune was one DELETE of every finished job past retention, under the
    serving role's statement timeout. A backlog it could not delete within that timeout
    (a busy hour's results, or days without a worker) failed every maintenance job, so
    nothing was pruned ever again and the backlog only grew. Here: 60,000 old jobs with
    their results, a 400 ms statement timeout."""
    user = await api_user(make_api, settings)
    await db_conn.execute("""
        WITH old AS (
            INSERT INTO jobs (owner_id, kind, status, attempts, finished_at, turn)
            SELECT $1::uuid, 'report', 'succeeded', 1, now() - interval '200 hours', 0
            FROM generate_series(1, 60000)
            RETURNING id
        ), results AS (
            INSERT INTO job_results (job_id, attempt, content_type, filename, bytes, sha256)
            SELECT id, 1, 'application/json', 'r.json', 2, repeat('0', 64) FROM old
        )
        INSERT INTO job_result_chunks (job_id, attempt, seq, data) SELECT id, 1, 0, '\\x7b7d'::bytea FROM old""",
                          user)
    interval = 86397.0             # a maintenance slot no other test uses
    api = await make_api(worker_settings(settings, db_statement_timeout_ms=400, jobs_maintenance_interval_s=interval))

    async def finished():
        return await db_conn.fetchrow("SELECT status, error, attempts FROM jobs WHERE dedupe_key LIKE $1 "
                                      "AND status IN ('succeeded', 'failed')", f"maintenance:{interval:g}:%")
    done = await wait_for(finished, timeout=120, what="the maintenance job")
    assert done["status"] == "succeeded", dict(done)
    assert await db_conn.fetchval("SELECT count(*) FROM jobs WHERE owner_id = $1::uuid", user) == 0
    assert api is not None


async def api_user(make_api, settings) -> str:
    api = await make_api(settings)
    return (await api.user()).id


class _Inbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


async def test_a_notice_retried_after_the_clients_email_changed_goes_to_the_new_address(make_api, settings, db_conn):
    """Before: the recipient was fixed when the project was delivered. With the SMTP
    server down, the owner corrected the client's mistyped email meanwhile, and the retry
    still sent the notice (the client's and project's names) to the old address."""
    from aiosmtpd.controller import Controller
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}", jobs_backoff_base_s=2.0,
                                         jobs_backoff_max_s=2.0))
    user = await api.user()
    client = await api.client_of(user, email="typo@exmaple.com")
    project = await api.project_of(user, client["id"])
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
    job = (await api.get("/api/jobs?kind=email", user))["items"][0]

    async def failed_once():
        row = await job_row(api.database_url, job["id"])
        return row["status"] == "queued" and row["attempts"] == 1
    await wait_for(failed_once, what="the first attempt to fail (no SMTP server)")
    await api.patch(f"/api/clients/{client['id']}", user, json={"email": "client@example.com"})
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        done = await wait_job(api, user, job["id"])
    finally:
        controller.stop()
    assert done["status"] == "succeeded", done
    assert [m.rcpt_tos for m in inbox.messages] == [["client@example.com"]]


async def test_a_report_of_many_distinct_templates_holds_a_bounded_result_in_memory(api, db_conn, database_url,
                                                                                     tmp_path):
    """Before: the report named every template, and a template name is the user's own
    text: 200,000 posts, each with its own 200-character name, made a 151 MiB report,
    built whole, and the worker's peak grew by 462 MiB (now 0.8 MiB and 5 MiB). The 1,000
    most used are named and other_templates counts the rest. 60,000 posts here."""
    user = await api.user()
    project = await api.project_of(user)
    await db_conn.execute("""
        INSERT INTO posts (owner_id, project_id, content, word_count, status, template_name)
        SELECT $1::uuid, $2::uuid, 'x', 1, 'approved', lpad(g::text, 200, chr(128512))
        FROM generate_series(1, 60000) AS g""", user.id, project["id"])
    process = _worker_process(database_url, tmp_path)
    try:
        await wait_for(lambda: db_conn.fetchval("SELECT count(*) FROM job_workers WHERE pid = $1 AND stopped_at IS NULL",
                                                process.pid), what="the worker to start")
        before = _rss_peak_kib(process.pid)
        job = await api.post(f"/api/projects/{project['id']}/reports", user, expect=202)
        done = await wait_job(api, user, job["id"], timeout=120)
        grown_mib = (_rss_peak_kib(process.pid) - before) / 1024
    finally:
        process.kill()
        await asyncio.to_thread(process.communicate, timeout=30)
    print(f"report {done['status']} {(done['result'] or {}).get('bytes', 0) / 2**20:.1f} MiB: "
          f"worker peak grew {grown_mib:.0f} MiB; {done['error']}")
    assert done["status"] == "succeeded" and grown_mib < 48
    resp = await api.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
    report = json.loads(await resp.read())
    assert len(report["by_template"]) == 1000 and report["posts"] == 60000
    assert report["other_templates"] == {"templates": 59000, "posts": 59000}


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_stalled_result_downloads_hold_one_chunk_each(db_conn, database_url, tmp_path):
    """Before: a download read 4 chunks (4 MiB) per query and held them while the client
    took the first: 60 downloads of a 12.5 MiB export that read nothing grew `run.py
    serve` by 239 MiB (one user may hold 256 connections per address). One chunk per
    query: +63 MiB. (RESPONSE_SEND_TIMEOUT_S cuts a download stalled for 30 s.)"""
    with served(database_url, tmp_path) as service:
        _, _, token = await asyncio.to_thread(service.user)
        _, client = await asyncio.to_thread(service.call, "POST", "/api/clients", token, {"name": "c"})
        _, project = await asyncio.to_thread(service.call, "POST", "/api/projects", token,
                                             {"name": "p", "client_id": client["id"]})
        owner = await db_conn.fetchval("SELECT owner_id::text FROM projects WHERE id = $1::uuid", project["id"])
        await insert_posts(db_conn, owner, project["id"], 20000, content_size=500)
        _, job = await asyncio.to_thread(service.call, "POST", f"/api/projects/{project['id']}/exports", token, {})

        async def succeeded():
            _, row = await asyncio.to_thread(service.call, "GET", f"/api/jobs/{job['id']}", token)
            return row if row["status"] == "succeeded" else None
        done = await wait_for(succeeded, what="the export", interval=0.2)
        assert done["result"]["bytes"] > 12 * 2**20
        _, health = await asyncio.to_thread(service.call, "GET", "/api/health")
        pid = health["worker"]["pid"]
        before = _rss_mib(pid)
        sockets = []
        try:
            for _ in range(60):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", service.port))
                sock.sendall(f"GET /api/jobs/{job['id']}/result HTTP/1.1\r\nHost: t\r\n"
                             f"Authorization: Bearer {token}\r\n\r\n".encode())
                sockets.append(sock)
            await asyncio.sleep(5)
            grown = _rss_mib(pid) - before
        finally:
            for sock in sockets:
                sock.close()
    print(f"60 stalled downloads: +{grown:.0f} MiB")
    assert grown < 150


async def test_an_export_made_as_admin_is_not_downloadable_once_no_longer_admin(make_api, settings, db_conn):
    """Before: a result was the job owner's for the whole retention (168 h): an admin who
    exported another user's project, then lost the admin flag, still downloaded that
    user's posts through the old job. A user's result is now theirs only while the
    project is theirs."""
    api = await make_api(worker_settings(settings))
    admin, owner = await api.user(admin=True), await api.user()
    project = await api.project_of(owner)
    await insert_posts(db_conn, owner.id, project["id"], 10)
    job = await api.post(f"/api/projects/{project['id']}/exports", admin, expect=202)
    assert (await wait_job(api, admin, job["id"]))["status"] == "succeeded"
    await api.get(f"/api/jobs/{job['id']}/result", admin)
    await db_conn.execute("UPDATE users SET is_admin = false WHERE id = $1::uuid", admin.id)

    async def refused():
        resp = await api.client.get(f"/api/jobs/{job['id']}/result", headers=admin.headers)
        return resp.status == 404
    await wait_for(refused, timeout=10, what="the former admin's download to be refused")
    # The owner's own exports are unaffected.
    mine = await api.post(f"/api/projects/{project['id']}/exports", owner, expect=202)
    assert (await wait_job(api, owner, mine["id"]))["status"] == "succeeded"
    resp = await api.client.get(f"/api/jobs/{mine['id']}/result", headers=owner.headers)
    assert resp.status == 200


async def test_a_prune_batch_is_bounded_by_the_bytes_of_its_results(make_api, settings, db_conn):
    """100 old exports of large results in one prune statement deleted all their chunks at
    once (about 520 TOAST rows per MiB) and could outlast the statement timeout every run.
    A batch now stops at `max_bytes` of results after its first job."""
    from service.db.database import Database
    from service.db.pool import Pool
    from service.store import jobs as store

    api = await make_api(worker_settings(settings))
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 50)
    ids = []
    for _ in range(3):
        job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202)
        ids.append((await wait_job(api, user, job["id"]))["id"])
    # The oldest finished jobs of the database, in this order.
    for age, job_id in enumerate(ids):
        await db_conn.execute("UPDATE jobs SET finished_at = timestamptz '2000-01-01' + $2 * interval '1 second' "
                              "WHERE id = $1::uuid", job_id, age)
    pool = Pool(settings.database_url, settings)
    await pool.open()
    try:
        db = Database(pool)
        left = []
        for _ in range(3):
            assert await store.prune(db, retention_hours=1, batch=100, max_bytes=1) >= 1
            left.append(await db_conn.fetchval("SELECT count(*) FROM jobs WHERE id = ANY($1::uuid[])", ids))
    finally:
        await pool.close()
    assert left == [2, 1, 0], left                 # one job per batch: each result is over 1 byte
