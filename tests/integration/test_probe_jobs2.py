"""Adversarial probes of the background jobs (docs/API.md section 8), second round: what a
long-lived worker keeps in memory, and what a delivery notice does with addresses and
refusals a retry cannot change."""
from __future__ import annotations

from jobutil import wait_for, worker_settings

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
