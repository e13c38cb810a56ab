"""Adversarial probes of the background jobs (docs/API.md section 8), second round: what a
long-lived worker keeps in memory, and what a delivery notice does with addresses and
refusals a retry cannot change."""
from __future__ import annotations

import logging

import aiohttp
from jobutil import insert_posts, wait_for, wait_job, worker_settings

from service.db.database import Database
from service.db.pool import Pool
from service.jobs import worker as worker_module
from service.jobs.worker import Worker


async def test_a_worker_remembers_a_bounded_number_of_the_jobs_it_ran(api, settings, db_conn, monkeypatch):
    """Before: Worker.ran listed every job id the worker ever started (80 bytes a job, never
    freed), so a long-lived worker grew with every job any user enqueued."""
    monkeypatch.setattr(worker_module, "RECENT_JOBS_KEPT", 5, raising=False)
    user = await api.user()
    project = await api.project_of(user)
    ids = [(await api.post(f"/api/projects/{project['id']}/reports", user, expect=202))["id"] for _ in range(12)]
    custom = worker_settings(settings)
    pool = Pool(custom.database_url, custom)
    await pool.open()
    worker = Worker(Database(pool), custom)
    await worker.start()
    try:
        async def all_done():
            rows = await db_conn.fetch("SELECT status FROM jobs WHERE id = ANY($1::uuid[])", ids)
            return all(r["status"] == "succeeded" for r in rows)
        await wait_for(all_done, what="12 reports")
    finally:
        await worker.stop()
        await pool.close()
    assert len(worker.ran) == 5
    assert {str(i) for i in worker.ran} <= set(ids)


async def test_a_result_whose_job_is_deleted_mid_download_is_cut_without_an_error(make_api, settings, db_conn,
                                                                               caplog):
    """The owner deletes the project while downloading its export (the job and its result go
    with it; so does a result whose retention passes). Before: the download's end was logged
    as an ERROR with a traceback ("broke off"), so any user could write tracebacks into the
    service's error log at will. Now one INFO line; the connection is still cut short of
    Content-Length, the only signal left once the headers are sent."""
    api = await make_api(worker_settings(settings))
    user = await api.user()
    project = await api.project_of(user)
    await insert_posts(db_conn, user.id, project["id"], 4000, content_size=2000)
    job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202)
    done = await wait_job(api, user, job["id"])
    assert done["status"] == "succeeded" and done["result"]["bytes"] > 8 * 1024 * 1024
    caplog.set_level(logging.INFO, logger="service.api.jobs")
    received = 0
    resp = await api.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
    try:
        assert resp.status == 200
        received += len(await resp.content.readexactly(64 * 1024))
        await api.call("DELETE", f"/api/projects/{project['id']}", user, expect=204)
        try:
            while chunk := await resp.content.read(1024 * 1024):
                received += len(chunk)
        except aiohttp.ClientPayloadError:
            pass
    finally:
        resp.release()
    assert received < int(resp.headers["Content-Length"])
    records = [r for r in caplog.records if r.name == "service.api.jobs"]
    assert not [r for r in records if r.levelno >= logging.ERROR], [r.getMessage() for r in records]
    assert any("was deleted" in r.getMessage() for r in records)
