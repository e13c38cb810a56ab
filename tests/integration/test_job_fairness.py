"""The job routes and the queue against hostile and greedy callers (README "Limits" and
"Background jobs"; docs/API.md section 8):

- an anonymous job request is 401 before its body is read: a token-less client cannot
  make the loop parse more than 16 KiB;
- one owner's backlog does not delay another owner's job: the claim (sql/jobs/claim.sql)
  prefers owners with fewer jobs running, then takes turns across owners (jobs.turn,
  migration 0150), and weighs only a bounded front of the queue, so it stays an index
  probe with 100,000s of jobs queued;
- an owner has at most JOBS_MAX_ACTIVE_PER_USER jobs queued or running: past it, 429 in
  the error envelope with Retry-After; a job that finishes (or is cancelled) frees room.
"""
from __future__ import annotations

import asyncio
import io
import json

import asyncpg
import pytest
from dbutil import scratch_database
from jobutil import insert_posts, wait_for, wait_job, worker_settings

from service.db.database import Database
from service.db.pool import Pool
from service.db.registry import query
from service.jobs.tasks import reports
from service.jobs.worker import Worker

# -- who may make the service parse a body ------------------------------------------------


@pytest.mark.parametrize("kind", ["exports", "reports"])
async def test_anonymous_job_requests_are_401_before_their_body_is_read(api, kind):
    """README: "A token-less client can no longer make the loop parse more than 16 KiB."
    create_export/create_report read and validate the body (up to 8 MiB) before
    require_user: an anonymous caller gets 400/422 about its body instead of 401."""
    project = await api.project_of(await api.user())
    path = f"/api/projects/{project['id']}/{kind}"
    resp, body = await api.call("POST", path, json={"format": "pdf", "unknown": 1})
    assert resp.status == 401, (resp.status, body)
    big = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'       # 2 MiB: far over the 16 KiB of public routes
    resp, body = await api.call("POST", path, data=io.BytesIO(big), headers={"Content-Type": "application/json"})
    assert resp.status in (401, 413), (resp.status, body)


@pytest.mark.parametrize("kind", ["exports", "reports"])
async def test_an_anonymous_job_request_is_answered_without_waiting_for_its_body(api, kind):
    """The body of an anonymous request is never awaited: announced as 8 MiB and never sent,
    it still gets its 401 at once (a handler reading it first would wait for the bytes).
    The other job routes answer an anonymous caller 401 as well, and a bad token is no token."""
    project = await api.project_of(await api.user())
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    try:
        writer.write(f"POST /api/projects/{project['id']}/{kind} HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {8 * 1024 * 1024}\r\n\r\n"
                     '{"format": "'.encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    assert head.split(b" ", 2)[1] == b"401", head
    job_id = "00000000-0000-4000-8000-000000000000"
    for method, path in (("GET", "/api/jobs"), ("GET", f"/api/jobs/{job_id}"),
                         ("POST", f"/api/jobs/{job_id}/cancel"), ("GET", f"/api/jobs/{job_id}/result"),
                         ("POST", f"/api/projects/{project['id']}/{kind}")):
        resp, body = await api.call(method, path, json={"format": "csv"} if method == "POST" else None)
        assert resp.status == 401 and body["error"]["code"] == "unauthorized", (method, path, body)
        resp, body = await api.call(method, path, headers={"Authorization": "Bearer not-a-token"})
        assert resp.status == 401, (method, path, body)


# -- one user's jobs and another's -----------------------------------------------------

async def test_one_users_job_backlog_does_not_delay_another_users_job(api, make_api, settings, db_conn):
    """README Limits: greedy callers change nothing for anyone else. jobs/claim.sql takes jobs
    in run_after order across all owners and nothing bounds one owner's queue: a user who
    queues N jobs makes every other user's job wait for all N."""
    greedy, other = await api.user(), await api.user()
    greedy_project, other_project = await api.project_of(greedy), await api.project_of(other)
    backlog = [(await api.post(f"/api/projects/{greedy_project['id']}/reports", greedy, json={}, expect=202))["id"]
               for _ in range(30)]
    mine = (await api.post(f"/api/projects/{other_project['id']}/reports", other, json={}, expect=202))["id"]
    # Now a worker (one job at a time) finds the greedy user's 30 jobs and the other's one queued.
    worker_api = await make_api(worker_settings(settings, jobs_concurrency=1))
    done = await wait_job(worker_api, other, mine)
    assert done["status"] == "succeeded", done
    ahead = await db_conn.fetchval(
        "SELECT count(*) FROM jobs WHERE id = ANY($1::uuid[]) AND started_at IS NOT NULL "
        "AND started_at < (SELECT started_at FROM jobs WHERE id = $2::uuid)", backlog, mine)
    assert ahead <= 3, f"the other user's job waited for {ahead} of the greedy user's 30 jobs"


# -- the cap on one owner's queue ---------------------------------------------------------

async def _active(db_conn, user) -> int:
    return await db_conn.fetchval(
        "SELECT count(*) FROM jobs WHERE owner_id = $1::uuid AND status IN ('queued', 'running')", user.id)


def _assert_429(resp, body, cap: int) -> None:
    assert resp.status == 429, (resp.status, body)
    assert resp.content_type == "application/json"
    assert body["error"]["status"] == 429 and body["error"]["code"] == "too_many_requests", body
    assert str(cap) in body["error"]["message"], body
    assert body["request_id"] == resp.headers["X-Request-ID"]
    assert int(resp.headers["Retry-After"]) >= 1


async def test_a_users_queued_and_running_jobs_are_capped_and_a_finished_one_frees_room(make_api, settings, db_conn):
    cap = 3
    capped = settings.replace(jobs_max_active_per_user=cap)
    api = await make_api(capped)
    user, other = await api.user(), await api.user()
    project = await api.project_of(user)
    reports, exports = f"/api/projects/{project['id']}/reports", f"/api/projects/{project['id']}/exports"
    first = await api.post(reports, user, json={}, expect=202, headers={"Idempotency-Key": "first"})
    second = await api.post(exports, user, json={"format": "jsonl"}, expect=202)
    await api.post(reports, user, expect=202)
    for path in (reports, exports):
        resp, body = await api.call("POST", path, user, json={})
        _assert_429(resp, body, cap)
    assert await _active(db_conn, user) == cap, "a refused request left a job behind"
    # A repeated request (same Idempotency-Key) makes no job: it is still answered with the first.
    resp, again = await api.call("POST", reports, user, json={}, headers={"Idempotency-Key": "first"})
    assert resp.status == 200 and again["id"] == first["id"], again
    # Another user is not affected by this one's full queue.
    await api.post(f"/api/projects/{(await api.project_of(other))['id']}/reports", other, json={}, expect=202)
    # A cancelled job frees its place at once.
    await api.post(f"/api/jobs/{second['id']}/cancel", user, expect=200)
    await api.post(exports, user, json={}, expect=202)
    _assert_429(*await api.call("POST", exports, user, json={}), cap)
    # So does a job that finishes: a worker runs the first one.
    worker_api = await make_api(worker_settings(capped, jobs_concurrency=1))
    assert (await wait_job(worker_api, user, first["id"]))["status"] == "succeeded"
    await worker_api.post(reports, user, json={}, expect=202)


async def test_concurrent_requests_cannot_overshoot_the_cap(make_api, settings, db_conn):
    """Enqueues of one owner are serialised (a transaction-level advisory lock per owner), so
    requests racing each other end with exactly the cap queued, never a few more."""
    cap = 4
    api = await make_api(settings.replace(jobs_max_active_per_user=cap))
    user = await api.user()
    project = await api.project_of(user)
    answers = await asyncio.gather(*(api.call("POST", f"/api/projects/{project['id']}/reports", user, json={})
                                     for _ in range(12)))
    statuses = sorted(resp.status for resp, _ in answers)
    assert statuses == [202] * cap + [429] * (12 - cap), statuses
    assert await _active(db_conn, user) == cap


async def test_an_enqueue_waiting_on_a_project_a_delivery_holds_does_not_deadlock(api, db_conn):
    """A PATCH to `delivered` holds the project's row (FOR UPDATE) and then enqueues a
    delivery email for the same owner, while an export of that project waits for the row
    (its job's foreign key). The export's owner lock is taken first, and the email's insert
    takes none, so the PATCH finishes and the export follows: no deadlock (which the
    database would break by failing one of them)."""
    user = await api.user()
    project = await api.project_of(user)
    patch = db_conn.transaction()
    await patch.start()
    try:
        await db_conn.execute("SELECT 1 FROM projects WHERE id = $1::uuid FOR UPDATE", project["id"])
        export = asyncio.create_task(api.call("POST", f"/api/projects/{project['id']}/exports", user, json={}))
        await asyncio.sleep(0.5)                              # the export now waits for the row
        assert not export.done()
        await asyncio.wait_for(db_conn.execute(
            "INSERT INTO jobs (owner_id, kind, project_id, params, max_attempts) "
            "VALUES ($1::uuid, 'email', $2::uuid, '{}', 5)", user.id, project["id"]), 5)
    finally:
        await patch.commit()
    resp, body = await asyncio.wait_for(export, 10)
    assert resp.status == 202, (resp.status, body)


def test_the_cap_is_a_validated_setting():
    from service.settings import Settings, SettingsError, load_settings
    assert Settings().jobs_max_active_per_user == 100
    loaded = load_settings({"JOBS_MAX_ACTIVE_PER_USER": "7", "SECRET_KEY": "s" * 32}, create_secret=False)
    assert loaded.jobs_max_active_per_user == 7
    for bad in ("0", "-1", "abc", "1.5"):
        with pytest.raises(SettingsError, match="JOBS_MAX_ACTIVE_PER_USER"):
            load_settings({"JOBS_MAX_ACTIVE_PER_USER": bad, "SECRET_KEY": "s" * 32}, create_secret=False)


# -- the claim at scale -------------------------------------------------------------------

OWNERS = 2_000          # each with QUEUED_EACH queued jobs: 200,000 queued in all
QUEUED_EACH = 100
BUSY = 40               # owners with a job running, whose backlogs are the oldest turns of the queue
CLAIM = query("jobs/claim")


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


class _Rollback(Exception):
    """Leaves a transaction block, rolling back what a test did to the shared queue database."""

@pytest.fixture(scope="module")
async def queue_database(pg_server):
    """A migrated database whose queue holds 200,000 due jobs of 2,000 owners, as turns would
    have them (each owner's jobs take consecutive turns), the 40 busy owners' backlogs first
    (their jobs were passed over while they had one running; they are also the oldest),
    10,050 finished jobs, and retries still waiting out their backoff."""
    async with scratch_database(pg_server[0], "cj_job_claim") as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"""
                INSERT INTO users (email, password_hash)
                SELECT 'queue-owner-' || g || '@example.com', 'not-a-hash' FROM generate_series(1, {OWNERS}) AS g""")
            owners = [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY email")]
            busy, idle = owners[:BUSY], owners[BUSY:]
            # Finished jobs: the turns served so far are 0..200 (the current turn is 200).
            await conn.execute("""
                INSERT INTO jobs (owner_id, kind, status, turn, attempts, started_at, finished_at, created_at)
                SELECT ($1::uuid[])[1 + g % 50], 'report', 'succeeded', g / 50, 1,
                       now() - interval '1 hour', now() - interval '1 hour', now() - interval '3 days'
                FROM generate_series(0, 10049) AS g""", idle)
            # Each busy owner: one job running, and 100 queued at turns 100..199 (passed over), the oldest.
            await conn.execute("""
                INSERT INTO jobs (owner_id, kind, status, turn, attempts, worker_id, started_at, heartbeat_at)
                SELECT o, 'export', 'running', 150, 1, 'w', now(), now() FROM unnest($1::uuid[]) AS o""", busy)
            await conn.execute(f"""
                INSERT INTO jobs (owner_id, kind, turn, run_after, created_at)
                SELECT o, 'report', 100 + g, now() - interval '2 days' + g * interval '1 second',
                       now() - interval '2 days' + g * interval '1 second'
                FROM unnest($1::uuid[]) AS o, generate_series(0, {QUEUED_EACH - 1}) AS g""", busy)
            # Every other owner: 100 queued at turns 200..299.
            await conn.execute(f"""
                INSERT INTO jobs (owner_id, kind, turn, run_after, created_at)
                SELECT o, 'report', 200 + g, now() - interval '1 day' + g * interval '1 second',
                       now() - interval '1 day' + g * interval '1 second'
                FROM unnest($1::uuid[]) AS o, generate_series(0, {QUEUED_EACH - 1}) AS g""", idle)
            # Retries waiting out their backoff, at the very front of the turns.
            await conn.execute("""
                INSERT INTO jobs (owner_id, kind, turn, attempts, error, run_after)
                SELECT ($1::uuid[])[1 + g], 'report', 0, 1, 'boom', now() + interval '1 hour'
                FROM generate_series(0, 99) AS g""", idle)
            await conn.execute("VACUUM (ANALYZE) jobs")
        finally:
            await conn.close()
        yield url, busy


async def test_a_newcomers_job_and_a_maintenance_job_take_the_current_turn(queue_database):
    """Enqueued now, a job of an owner with nothing queued takes the current turn (200, the
    highest turn any job was claimed at), behind no one else's backlog; a job of an owner with
    jobs queued takes the turn after its own last one; a job of no owner (maintenance) is one
    more owner. Each is two probes of an index: no scan of the queue."""
    url, busy = queue_database
    conn = await asyncpg.connect(url)
    try:
        newcomer = await conn.fetchval(
            "INSERT INTO users (email, password_hash) VALUES ('newcomer@example.com', 'x') RETURNING id")
        async with conn.transaction():
            before = await conn.fetchrow("SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'jobs'")
            insert = query("jobs/insert")
            mine = await conn.fetchval(insert.text, *insert.bind(
                {"owner_id": newcomer, "kind": "report", "project_id": None, "params": "{}", "max_attempts": 5,
                 "idempotency_key": None}))
            scheduled = query("jobs/insert_scheduled")
            maintenance = await conn.fetchval(scheduled.text, *scheduled.bind(
                {"kind": "maintenance", "params": "{}", "dedupe_key": "maintenance:test", "max_attempts": 5}))
            greedy = await conn.fetchval(insert.text, *insert.bind(
                {"owner_id": busy[0], "kind": "report", "project_id": None, "params": "{}", "max_attempts": 5,
                 "idempotency_key": None}))
            after = await conn.fetchrow("SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'jobs'")
            turns = dict(await conn.fetch("SELECT id, turn FROM jobs WHERE id = ANY($1::uuid[])",
                                          [mine, maintenance, greedy]))
            assert after["seq_scan"] == before["seq_scan"], "an enqueue scanned the jobs table"
            assert turns[mine] == 200 and turns[maintenance] == 200, turns
            assert turns[greedy] == 100 + QUEUED_EACH, turns
            # The cap counts an owner's queued and running jobs (the jobs list's count) through the
            # indexes of active jobs, never the owner's finished ones (here: the owner with most).
            veteran = await conn.fetchval("SELECT owner_id FROM jobs WHERE status = 'succeeded' "
                                          "GROUP BY owner_id ORDER BY count(*) DESC LIMIT 1")
            count = query("jobs/count")
            for status in ("queued", "running"):
                plan = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + count.text, *count.bind(
                    {"owner_id": veteran, "status": status, "kind": None, "cap": 101})))[0]["Plan"]
                nodes = list(_nodes(plan))
                assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], plan
                assert {n["Index Name"] for n in nodes if "Index Name" in n} <= {
                    "jobs_active_owner_turn_idx", "jobs_running_heartbeat_idx"}, plan
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


async def test_the_claim_reads_a_bounded_front_of_a_huge_queue_and_prefers_idle_owners(queue_database):
    """With 200,000 due jobs queued, the claim's plan reads jobs through indexes only, touches a
    few hundred buffers (a scan of the queue would touch thousands), and picks owners with
    nothing running, one job each, although the 40 busy owners' 4,000 jobs come first in turn
    order and the other owners' jobs are the oldest. A retry waiting out its backoff is not taken."""
    url, busy = queue_database
    conn = await asyncpg.connect(url)
    try:
        queued = await conn.fetchval("SELECT count(*) FROM jobs WHERE status = 'queued'")
        assert queued >= OWNERS * QUEUED_EACH
        async with conn.transaction():
            raw = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + CLAIM.text, "w-explain", 8, False)
            plan = json.loads(raw)[0]["Plan"]
            raise _Rollback
    except _Rollback:
        pass
    try:
        nodes = list(_nodes(plan))
        assert not [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "jobs"], raw
        touched = sum(n.get("Shared Hit Blocks", 0) + n.get("Shared Read Blocks", 0) for n in nodes[:1])
        assert touched < 2_000, f"the claim touched {touched} buffers of a 200,000-job queue"
        most = max(n.get("Actual Rows", 0) for n in nodes if n.get("Relation Name") == "jobs")
        assert most <= 200, f"a node of the claim read {most} rows of jobs"
        async with conn.transaction():
            claimed = await conn.fetch(CLAIM.text, *CLAIM.bind({"worker_id": "w-test", "limit": 8,
                                                                "newcomers_only": False}))
            assert len(claimed) == 8
            owners = [row["owner_id"] for row in claimed]
            assert len(set(owners)) == 8 and not set(owners) & set(busy), "claimed for a busy owner"
            assert all(row["attempts"] == 1 for row in claimed), "took a retry before its backoff"
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await conn.close()


async def test_a_newcomers_job_runs_while_one_users_long_jobs_hold_every_slot(api, settings, db_conn):
    """A running job keeps its slot: with every slot of the only worker held by one user's
    long exports, another user's small report waited for the first of them to end (16.6 s
    behind two 150,000-post exports at JOBS_CONCURRENCY=2). The worker's spare slot runs it
    now, and only it: the greedy user's next export still waits for a slot."""
    release = asyncio.Event()

    async def long_export(job) -> None:                 # an export that runs until released
        await release.wait()
        raise RuntimeError("released")

    greedy, other = await api.user(), await api.user()
    greedy_project, other_project = await api.project_of(greedy), await api.project_of(other)
    exports = [(await api.post(f"/api/projects/{greedy_project['id']}/exports", greedy, json={}, expect=202))["id"]
               for _ in range(3)]
    # Jobs earlier tests left queued or running in the session's database would take the
    # slots first (they are older turns): they are garbage now, and only this test's count.
    await db_conn.execute("DELETE FROM jobs WHERE status IN ('queued', 'running') AND id <> ALL($1::uuid[])", exports)
    custom = worker_settings(settings, jobs_concurrency=2)
    pool = Pool(custom.database_url, custom)
    await pool.open()
    worker = Worker(Database(pool), custom, tasks={"export": long_export, "report": reports.run}, grace_s=1)
    await worker.start()
    try:
        async def two_running():
            return await db_conn.fetchval("SELECT count(*) FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'running'",
                                          exports) == 2
        await wait_for(two_running, 20, "two of the greedy user's exports to run")
        mine = (await api.post(f"/api/projects/{other_project['id']}/reports", other, json={}, expect=202))["id"]
        done = await wait_job(api, other, mine, timeout=20)
        assert done["status"] == "succeeded", done
        statuses = await db_conn.fetch("SELECT status FROM jobs WHERE id = ANY($1::uuid[])", exports)
        assert sorted(r["status"] for r in statuses) == ["queued", "running", "running"], statuses
    finally:
        release.set()
        await worker.stop()
        await pool.close()
        # Failed by the release, they would be retried by a later test's worker.
        await db_conn.execute("DELETE FROM jobs WHERE id = ANY($1::uuid[])", exports)



# -- the bytes of one owner's stored results -------------------------------------------------

async def test_stored_results_are_bounded_per_user_and_another_user_is_not_affected(make_api, settings, db_conn):
    """Without a bound one user kept 60 exports (131 MiB) within 15 s with a queue cap of 5,
    for JOBS_RETENTION_HOURS. JOBS_MAX_RESULT_BYTES_PER_USER: an export that would pass it
    fails for good (no retry), and once the stored results reach it an enqueue is 429 with
    Retry-After; another user enqueues and downloads as before."""
    cap = 300_000
    bounded = worker_settings(settings, jobs_concurrency=1, jobs_max_result_bytes_per_user=cap)
    api = await make_api(bounded)
    greedy, other = await api.user(), await api.user()
    small, large = await api.project_of(greedy), await api.project_of(greedy)
    await insert_posts(db_conn, greedy.id, small["id"], 120, content_size=500)       # ~108 KB as JSONL
    await insert_posts(db_conn, greedy.id, large["id"], 1000, content_size=500)      # ~900 KB
    too_big = await api.post(f"/api/projects/{large['id']}/exports", greedy, json={"format": "jsonl"}, expect=202)
    done = await wait_job(api, greedy, too_big["id"])
    assert done["status"] == "failed" and done["attempts"] == 1, done
    assert "JOBS_MAX_RESULT_BYTES_PER_USER" in done["error"], done
    stored = []
    for _ in range(3):                                   # 3 x ~108 KB: the third would pass the cap
        job = await api.post(f"/api/projects/{small['id']}/exports", greedy, json={"format": "jsonl"}, expect=202)
        stored.append(await wait_job(api, greedy, job["id"]))
    assert [j["status"] for j in stored] == ["succeeded", "succeeded", "failed"], stored
    total = await db_conn.fetchval("SELECT sum(bytes) FROM job_results r JOIN jobs j ON j.id = r.job_id "
                                   "WHERE j.owner_id = $1::uuid", greedy.id)
    assert total <= cap, total
    # Stored results at the cap (one of them made to weigh it all): an enqueue is refused.
    await db_conn.execute("UPDATE job_results SET bytes = $2 FROM jobs WHERE jobs.id = job_results.job_id "
                          "AND jobs.owner_id = $1::uuid AND jobs.id = $3::uuid", greedy.id, cap, stored[0]["id"])
    resp, body = await api.call("POST", f"/api/projects/{small['id']}/reports", greedy, json={})
    assert resp.status == 429 and body["error"]["code"] == "too_many_requests", (resp.status, body)
    assert "JOBS_MAX_RESULT_BYTES_PER_USER" in body["error"]["message"], body
    assert int(resp.headers["Retry-After"]) > 3600, resp.headers        # the oldest goes after retention
    mine = await api.post(f"/api/projects/{(await api.project_of(other))['id']}/reports", other, json={},
                          expect=202)
    assert (await wait_job(api, other, mine["id"]))["status"] == "succeeded"
