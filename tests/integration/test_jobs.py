"""Jobs through the API (docs/API.md section 8): enqueue in the request's transaction,
idempotency, ownership, the list, cancellation, results (CSV/JSONL/report) and their
download headers, the export's snapshot, /api/health/jobs."""
from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import time
import uuid

import asyncpg
from jobutil import chunk_insert_waiting, held_lock, insert_posts, wait_for, wait_job, worker_settings
from prometheus_client.parser import text_string_to_metric_families

from service.jobs.tasks.exports import CSV_COLUMNS


async def _job_count(database_url: str, owner_id: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM jobs WHERE owner_id = $1::uuid", owner_id)
    finally:
        await conn.close()


async def test_export_answers_202_with_location_and_a_queued_job(api):
    user = await api.user()
    project = await api.project_of(user)
    resp, job = await api.call("POST", f"/api/projects/{project['id']}/exports", user, expect=202,
                               json={"format": "jsonl", "status": "flagged"})
    assert resp.headers["Location"] == f"/api/jobs/{job['id']}"
    assert job["kind"] == "export" and job["status"] == "queued" and job["project_id"] == project["id"]
    assert job["params"] == {"format": "jsonl", "status": "flagged", "platform": None}
    assert job["attempts"] == 0 and job["max_attempts"] == 5
    assert job["progress"] == {"done": 0, "total": None} and job["result"] is None and job["error"] is None
    assert await api.get(resp.headers["Location"], user) == job
    # No body at all means the defaults.
    _, default = await api.call("POST", f"/api/projects/{project['id']}/exports", user, expect=202)
    assert default["params"]["format"] == "csv"
    _, report = await api.call("POST", f"/api/projects/{project['id']}/reports", user, expect=202, json={})
    assert report["kind"] == "report"


async def test_export_body_is_validated(api):
    user = await api.user()
    project = await api.project_of(user)
    path = f"/api/projects/{project['id']}/exports"
    for body in ({"format": "xlsx"}, {"status": "lost"}, {"platform": "myspace"}, {"colour": "red"}):
        await api.call("POST", path, user, expect=422, json=body)
    await api.call("POST", f"/api/projects/{project['id']}/reports", user, expect=422, json={"x": 1})
    assert await _job_count(api.database_url, user.id) == 0


async def test_a_failed_request_leaves_no_job_and_no_change(api, db_conn):
    """The job is inserted in the request's transaction: when the transaction fails
    after the insert, neither the job nor the request's other changes exist."""
    user = await api.user()
    project = await api.project_of(user, (await api.client_of(user, email="client@example.com"))["id"])
    await db_conn.execute(f"""
        CREATE FUNCTION test_fail_job_{user.id.replace('-', '')}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused by test'; END $$;
        CREATE CONSTRAINT TRIGGER test_fail_job AFTER INSERT ON jobs DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW WHEN (NEW.owner_id = '{user.id}'::uuid)
            EXECUTE FUNCTION test_fail_job_{user.id.replace('-', '')}()""")
    try:
        # Deferred: the insert and everything after it succeed; the commit fails.
        resp, _ = await api.call("POST", f"/api/projects/{project['id']}/exports", user)
        assert resp.status >= 500
        resp, _ = await api.call("PATCH", f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        assert resp.status >= 500
    finally:
        await db_conn.execute(f"""DROP TRIGGER test_fail_job ON jobs;
                                  DROP FUNCTION test_fail_job_{user.id.replace('-', '')}()""")
    assert await _job_count(api.database_url, user.id) == 0
    assert (await api.get(f"/api/projects/{project['id']}", user))["status"] == "draft"
    # Without the trigger the same requests enqueue.
    await api.call("POST", f"/api/projects/{project['id']}/exports", user, expect=202)
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
    assert await _job_count(api.database_url, user.id) == 2


async def test_idempotency_key_returns_the_first_job_for_24_hours(api, db_conn):
    user, other = await api.user(), await api.user()
    project = await api.project_of(user)
    path = f"/api/projects/{project['id']}/exports"
    key = {"Idempotency-Key": "export-" + uuid.uuid4().hex}
    first_resp, first = await api.call("POST", path, user, expect=202, headers=key)
    again_resp, again = await api.call("POST", path, user, expect=200, headers=key, json={"format": "jsonl"})
    assert again["id"] == first["id"] and again_resp.headers["Location"] == first_resp.headers["Location"]
    # Another user's key is another key.
    other_project = await api.project_of(other)
    _, theirs = await api.call("POST", f"/api/projects/{other_project['id']}/exports", other, expect=202,
                               headers=key)
    assert theirs["id"] != first["id"]
    # After 24 hours the key names a new job.
    await db_conn.execute("UPDATE jobs SET created_at = now() - interval '25 hours' WHERE id = $1::uuid",
                          first["id"])
    _, later = await api.call("POST", path, user, expect=202, headers=key)
    assert later["id"] != first["id"]
    assert await _job_count(api.database_url, user.id) == 2
    for bad in ("", "x" * 129):
        resp, body = await api.call("POST", path, user, expect=400, headers={"Idempotency-Key": bad})
        assert body["error"]["field"] == "Idempotency-Key"


async def test_another_users_job_is_404(api):
    owner, stranger = await api.user(), await api.user()
    project = await api.project_of(owner)
    job = await api.post(f"/api/projects/{project['id']}/exports", owner, expect=202)
    for method, suffix in (("GET", ""), ("POST", "/cancel"), ("GET", "/result")):
        await api.call(method, f"/api/jobs/{job['id']}{suffix}", stranger, expect=404)
    await api.call("POST", f"/api/projects/{project['id']}/exports", stranger, expect=404)
    await api.call("GET", "/api/jobs/not-a-uuid", owner, expect=404)
    listed = await api.get("/api/jobs", stranger)
    assert listed["items"] == []
    admin = await api.user(admin=True)
    assert (await api.get(f"/api/jobs/{job['id']}", admin))["id"] == job["id"]


async def test_jobs_list_paginates_and_filters(api):
    user = await api.user()
    project = await api.project_of(user)
    created = []
    for i in range(23):
        kind = "exports" if i % 3 else "reports"
        created.append(await api.post(f"/api/projects/{project['id']}/{kind}", user, expect=202))
    page1 = await api.get("/api/jobs?page_size=10", user)
    assert page1["metadata"]["total"] == 23 and page1["metadata"]["total_pages"] == 3
    assert [j["id"] for j in page1["items"]] == [j["id"] for j in reversed(created)][:10]
    seen, cursor = [], None
    while True:
        page = await api.get("/api/jobs?page_size=7" + (f"&cursor={cursor}" if cursor else ""), user)
        seen += [j["id"] for j in page["items"]]
        cursor = page["metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == [j["id"] for j in reversed(created)]
    reports = await api.get("/api/jobs?kind=report&order=asc&page_size=100", user)
    assert [j["id"] for j in reports["items"]] == [j["id"] for j in created if j["kind"] == "report"]
    await api.post(f"/api/jobs/{created[0]['id']}/cancel", user, expect=200)
    cancelled = await api.get("/api/jobs?status=cancelled", user)
    assert [j["id"] for j in cancelled["items"]] == [created[0]["id"]]
    assert (await api.get("/api/jobs?status=queued", user))["metadata"]["total"] == 22
    await api.call("GET", "/api/jobs?status=done", user, expect=400)
    await api.call("GET", "/api/jobs?kind=email&colour=red", user, expect=400)


async def test_cancel_a_queued_job_at_once_and_a_finished_one_is_409(api):
    user = await api.user()
    project = await api.project_of(user)
    job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202)
    cancelled = await api.post(f"/api/jobs/{job['id']}/cancel", user, expect=200)
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] is not None
    _, body = await api.call("POST", f"/api/jobs/{job['id']}/cancel", user, expect=409)
    assert body["error"]["code"] == "job_finished"
    _, body = await api.call("GET", f"/api/jobs/{job['id']}/result", user, expect=409)
    assert body["error"]["code"] == "job_not_finished"


async def test_result_before_the_job_finished_is_409(api):
    user = await api.user()
    project = await api.project_of(user)
    job = await api.post(f"/api/projects/{project['id']}/reports", user, expect=202)
    _, body = await api.call("GET", f"/api/jobs/{job['id']}/result", user, expect=409)
    assert body["error"]["code"] == "job_not_finished"


TRICKY = ["=SUM(A1:A2)", "+1 call me", "-2 degrees", "@handle hello", "\tstarts with a tab",
          "\rstarts with CR", 'a "quoted" word, and a comma', "two\nlines", "héllo ✓ unicode", "plain text"]


async def test_csv_export_result_headers_body_and_injection(make_api, settings, db_conn):
    api = await make_api(worker_settings(settings))
    user = await api.user()
    project = await api.project_of(user)
    items = [{"project_id": project["id"], "content": text, "flags": ["long", "tone"] if i % 2 else [],
              "template_name": "=cmd|' /C calc'!A0" if i == 0 else "listicle", "target_platform": "linkedin"}
             for i, text in enumerate(TRICKY)]
    await api.post("/api/posts", user, json={"items": items})
    job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202, json={"format": "csv"})
    done = await wait_job(api, user, job["id"])
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 1 and done["progress"] == {"done": len(TRICKY), "total": len(TRICKY)}
    resp = await api.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
    body = await resp.read()
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="project-{project["id"]}-posts.csv"'
    assert int(resp.headers["Content-Length"]) == len(body) == done["result"]["bytes"]
    assert hashlib.sha256(body).hexdigest() == done["result"]["sha256"]
    assert resp.headers["ETag"] == f'"{done["result"]["sha256"]}"'
    assert done["result"]["rows"] == len(TRICKY) and done["result"]["content_type"].startswith("text/csv")
    assert body.count(b"\r\n") >= len(TRICKY) + 1          # RFC 4180 line ends
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected = await db_conn.fetch("SELECT id::text, content, flags FROM posts WHERE project_id = $1::uuid "
                                   "ORDER BY created_at, id", project["id"])
    assert [r[0] for r in rows[1:]] == [r["id"] for r in expected]
    contents = [r[CSV_COLUMNS.index("content")] for r in rows[1:]]
    for original, cell in zip([r["content"] for r in expected], contents, strict=True):
        if original[0] in "=+-@\t\r":
            assert cell == "'" + original
        else:
            assert cell == original
    assert rows[1][CSV_COLUMNS.index("template_name")].startswith("'=")
    flags = {r[0]: r[CSV_COLUMNS.index("flags")] for r in rows[1:]}
    assert {flags[r["id"]] for r in expected} == {"long;tone", ""}
    # A repeated download with the ETag is 304.
    again = await api.client.get(f"/api/jobs/{job['id']}/result",
                                 headers={**user.headers, "If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_jsonl_export_with_filters_in_order(make_api, settings, db_conn):
    api = await make_api(worker_settings(settings))
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 2500)
    job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202,
                         json={"format": "jsonl", "status": "flagged", "platform": "twitter"})
    done = await wait_job(api, user, job["id"])
    assert done["status"] == "succeeded", done
    resp = await api.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
    assert resp.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in (await resp.read()).splitlines()]
    expected = await db_conn.fetch("""SELECT id::text FROM posts WHERE project_id = $1::uuid AND status = 'flagged'
                                      AND target_platform = 'twitter' ORDER BY created_at, id""", project["id"])
    assert [line["id"] for line in lines] == [r["id"] for r in expected]
    assert done["result"]["rows"] == len(expected) > 0
    assert all(line["status"] == "flagged" and line["target_platform"] == "twitter" for line in lines)
    assert set(lines[0]) >= {"id", "project_id", "run_id", "content", "word_count", "flags", "created_at"}


async def test_export_reads_one_snapshot_while_posts_change(make_api, settings, db_conn, database_url):
    """Stopped half-way (its first 1 MiB chunk waits for a lock), the export then sees
    neither the posts added nor the deletions made meanwhile."""
    api = await make_api(worker_settings(settings))
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 3000, content_size=500)
    before = [r["id"] for r in await db_conn.fetch(
        "SELECT id::text FROM posts WHERE project_id = $1::uuid ORDER BY created_at, id", project["id"])]
    async with held_lock(database_url, "LOCK TABLE job_result_chunks IN SHARE MODE") as lock:
        job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202, json={"format": "jsonl"})
        await wait_for(lambda: chunk_insert_waiting(lock), what="the export to wait on its first chunk")
        await db_conn.execute("DELETE FROM posts WHERE id = ANY($1::uuid[])", before[-10:])
        await insert_posts(db_conn, user.id, project["id"], 5)
    done = await wait_job(api, user, job["id"])
    assert done["status"] == "succeeded", done
    resp = await api.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
    ids = [json.loads(line)["id"] for line in (await resp.read()).splitlines()]
    assert ids == before and done["result"]["rows"] == 3000


async def test_cancel_a_running_export_stops_it_at_a_checkpoint(make_api, settings, db_conn, database_url):
    api = await make_api(worker_settings(settings, jobs_export_batch_rows=200))
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 3000, content_size=500)
    async with held_lock(database_url, "LOCK TABLE job_result_chunks IN SHARE MODE") as lock:
        job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202, json={"format": "csv"})
        await wait_for(lambda: chunk_insert_waiting(lock), what="the export to be running")
        running = await api.post(f"/api/jobs/{job['id']}/cancel", user, expect=200)
        assert running["status"] == "running"
    done = await wait_job(api, user, job["id"])
    assert done["status"] == "cancelled" and done["result"] is None
    assert await db_conn.fetchval("SELECT count(*) FROM job_result_chunks WHERE job_id = $1::uuid", job["id"]) == 0


async def test_report_figures_match_sql(make_api, settings, db_conn):
    api = await make_api(worker_settings(settings))
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 137)
    await api.post(f"/api/projects/{project['id']}/runs", user, json={"status": "succeeded"})
    await api.post(f"/api/projects/{project['id']}/runs", user, json={"status": "failed"})
    await api.post(f"/api/projects/{project['id']}/runs", user, json={"status": "failed"})
    job = await api.post(f"/api/projects/{project['id']}/reports", user, expect=202)
    done = await wait_job(api, user, job["id"])
    assert done["status"] == "succeeded", done
    resp = await api.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
    assert resp.headers["Content-Type"].startswith("application/json")
    report = json.loads(await resp.read())
    pid = project["id"]

    async def grouped(column: str) -> dict:
        rows = await db_conn.fetch(f"SELECT coalesce({column}, 'none') AS k, count(*) AS n FROM posts "
                                   f"WHERE project_id = $1::uuid GROUP BY 1", pid)
        return {r["k"]: r["n"] for r in rows}

    assert report["posts"] == 137
    assert report["by_status"] == await grouped("status")
    assert report["by_platform"] == await grouped("target_platform")
    with_template = await grouped("template_name")
    assert report["without_template"] == with_template.pop("none", 0)
    assert report["by_template"] == with_template
    stats = await db_conn.fetchrow("""SELECT min(word_count) AS wmin, round(avg(word_count), 2) AS wavg,
                                             max(word_count) AS wmax, min(readability_score) AS rmin,
                                             round(avg(readability_score)::numeric, 2) AS ravg,
                                             max(readability_score) AS rmax
                                      FROM posts WHERE project_id = $1::uuid""", pid)
    assert report["word_count"] == {"min": stats["wmin"], "avg": float(stats["wavg"]), "max": stats["wmax"]}
    assert report["readability"] == {"min": stats["rmin"], "avg": float(stats["ravg"]), "max": stats["rmax"]}
    assert report["runs"] == {"total": 3, "by_status": {"succeeded": 1, "failed": 2}}
    assert report["project"]["id"] == pid


async def test_health_jobs_reports_depth_workers_and_failures(make_api, settings):
    api = await make_api(worker_settings(settings))
    admin, user = await api.user(admin=True), await api.user()
    project = await api.project_of(admin)
    job = await api.post(f"/api/projects/{project['id']}/reports", admin, expect=202)
    await wait_job(api, admin, job["id"])
    health = await api.get("/api/health/jobs", admin)
    assert {"depth", "queued", "oldest_queued_age_s", "running", "workers", "recent_failures"} <= set(health)
    assert any(d["kind"] == "report" and d["status"] == "succeeded" and d["jobs"] >= 1 for d in health["depth"])
    assert health["this_process"]["worker_id"] in {w["id"] for w in health["workers"]}
    await api.call("GET", "/api/health/jobs", user, expect=403)
    full = await api.get("/api/health/full", admin)
    assert "depth" in full["jobs"]
    metrics = await api.client.get("/metrics")
    text = await metrics.text()
    assert 'cj_jobs_finished_total{kind="report",outcome="succeeded"' in text
    assert "cj_jobs_pickup_latency_seconds_bucket" in text


def _samples(text: str, name: str, **labels: str) -> list[float]:
    """The values of `name`'s samples with these labels in a Prometheus text page."""
    return [sample.value for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()]


def _sample(text: str, name: str) -> float:
    """The value of the one sample of `name`."""
    values = _samples(text, name)
    assert len(values) == 1, (name, values)
    return values[0]


async def test_metrics_read_the_queue_from_the_table_in_a_process_without_a_worker(api, db_conn):
    # The api fixture runs no job worker (conftest.py), as a serve with JOBS_WORKER=false
    # beside `run.py worker` processes: the queue's gauges come from the table at scrape time.
    # This session's database is younger than an hour: no other job has waited that long.
    # Also rows that must not count: a retry waiting out its backoff (not due yet) and a
    # finished job, both due long before.
    ids = await db_conn.fetch("""
        INSERT INTO jobs (kind, status, attempts, max_attempts, error, run_after, created_at, finished_at)
        VALUES ('report', 'queued', 0, 5, NULL, clock_timestamp() - interval '1 hour',
                clock_timestamp() - interval '1 hour', NULL),
               ('email', 'queued', 1, 5, 'retry', clock_timestamp() + interval '1 hour',
                clock_timestamp() - interval '3 hours', NULL),
               ('report', 'succeeded', 1, 5, NULL, clock_timestamp() - interval '2 hours',
                clock_timestamp() - interval '2 hours', clock_timestamp() - interval '2 hours'),
               ('export', 'failed', 5, 5, 'boom', clock_timestamp(), clock_timestamp(), clock_timestamp()),
               ('export', 'failed', 5, 5, 'old', clock_timestamp(), clock_timestamp() - interval '1 hour',
                clock_timestamp() - interval '20 minutes')
        RETURNING id""")
    try:
        text = await (await api.client.get("/metrics")).text()
        assert 3600 <= _sample(text, "cj_jobs_oldest_due_seconds") < 3700
        # Counted here another way: failed rows whose finish is less than 15 minutes old.
        rows = await db_conn.fetch("SELECT clock_timestamp() - finished_at AS age FROM jobs WHERE status = 'failed'")
        recent = sum(1 for row in rows if row["age"].total_seconds() < 15 * 60)
        assert recent >= 1 and _sample(text, "cj_jobs_recent_failures") == recent
        queued = await db_conn.fetchval("SELECT count(*) FROM jobs WHERE kind = 'report' AND status = 'queued'")
        depth = _samples(text, "cj_jobs", kind="report", status="queued")
        assert depth == [queued]
    finally:
        await db_conn.execute("DELETE FROM jobs WHERE id = ANY($1::uuid[])", [row["id"] for row in ids])


async def test_metrics_answer_without_the_queue_while_the_jobs_table_cannot_be_read(api, db_conn, monkeypatch):
    from service.jobs import metrics as job_metrics
    first = await (await api.client.get("/metrics")).text()
    assert _sample(first, "cj_jobs_oldest_due_seconds") >= 0      # read once: the figures exist
    # Every scrape reads again; the test waits out a short back-off.
    monkeypatch.setattr(job_metrics, "REFRESH_EVERY_S", 0.0)
    monkeypatch.setattr(job_metrics, "BACKOFF_S", 1.0)
    await asyncio.sleep(job_metrics.REFRESH_TIMEOUT_S)      # past the first read's once-a-second limit
    # Another session holds the table (as a migration would): the read gives up (lock_timeout).
    held = db_conn.transaction()
    await held.start()
    try:
        await db_conn.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = await api.client.get("/metrics")
        text = await response.text()
        assert response.status == 200 and time.monotonic() - started < 10
        # The page is whole but for the queue's samples: not the figures read before.
        assert "cj_http_requests_total" in text
        assert "cj_jobs_oldest_due_seconds{" not in text and "cj_jobs_recent_failures{" not in text
    finally:
        await held.rollback()
    await asyncio.sleep(1.2)
    text = await (await api.client.get("/metrics")).text()
    assert _sample(text, "cj_jobs_oldest_due_seconds") >= 0 and _sample(text, "cj_jobs_recent_failures") >= 0
