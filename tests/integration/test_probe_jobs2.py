"""Adversarial probes of the background jobs (docs/API.md section 8), second round: what a
long-lived worker keeps in memory, and what a delivery notice does with addresses and
refusals a retry cannot change."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from jobutil import insert_posts, wait_for, wait_job, worker_settings

from service import keys
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


class RcptReply:
    """An SMTP server answering every RCPT TO with one reply (refusing it unless 250)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.asked = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.asked += 1
        if self.reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.reply

    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


@contextlib.contextmanager
def smtp_server(handler):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.mark.parametrize("reply, address, attempts", [
    ("550 5.1.1 no such user", "nobody@example.com", 1),           # permanent: fails at once
    ("250 OK", "jos\u00e9@example.com", 1),                          # needs SMTPUTF8, which the server lacks
    ("451 4.3.0 try again later", "busy@example.com", 3),          # transient: retried to max_attempts
])
async def test_a_notice_the_smtp_server_refuses_for_good_fails_without_retries(make_api, settings, reply, address,
                                                                              attempts):
    """Before: a notice refused with a 5xx reply, or to an address the server cannot take,
    was sent again JOBS_MAX_ATTEMPTS times (up to 100, hours of backoff), refused each time."""
    handler = RcptReply(reply)
    with smtp_server(handler) as port:
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}", jobs_max_attempts=3))
        user = await api.user()
        client = await api.client_of(user, email=address)
        project = await api.project_of(user, client["id"])
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        job = (await api.get("/api/jobs?kind=email", user))["items"][0]
        done = await wait_job(api, user, job["id"])
    assert done["status"] == "failed" and done["attempts"] == attempts, done
    assert done["error"] and (reply[:3] in done["error"] or "SMTPUTF8" in done["error"]), done["error"]


class HeldData:
    """An SMTP server that takes the message only once the test lets it (a slow server)."""

    def __init__(self) -> None:
        self.in_data = threading.Event()
        self.release = threading.Event()
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.in_data.set()
        while not self.release.is_set():          # the server's own loop, in its own thread
            await asyncio.sleep(0.01)
        self.messages.append(envelope)
        return "250 OK"


async def test_a_notice_cancelled_while_the_server_takes_it_says_it_was_sent(make_api, settings):
    """Before: a cancel asked for while the SMTP server was taking the notice left the job
    `cancelled` once the server had accepted it: the job said the client got nothing, and
    they had the message. A sent message cannot be called back: the job now succeeds."""
    handler = HeldData()
    with smtp_server(handler) as port:
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        user = await api.user()
        client = await api.client_of(user, email="client@example.com")
        project = await api.project_of(user, client["id"])
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        job = (await api.get("/api/jobs?kind=email", user))["items"][0]
        try:
            assert await asyncio.to_thread(handler.in_data.wait, 30), "the notice never reached DATA"
            _, cancelled = await api.call("POST", f"/api/jobs/{job['id']}/cancel", user, expect=200)
            assert cancelled["status"] == "running"
        finally:
            handler.release.set()
        done = await wait_job(api, user, job["id"])
    assert len(handler.messages) == 1
    assert done["status"] == "succeeded" and done["progress"] == {"done": 1, "total": 1}, done


async def test_a_rescued_jobs_error_does_not_name_the_workers_host(api, make_api, settings, db_conn, caplog):
    """Before: the rescue wrote 'worker <host>:<pid>:<hex> stopped sending heartbeats' as the
    job's error, which its owner reads: any user whose job outlived a worker learned the
    service's internal host names and process ids. The operator's log line names it."""
    user = await api.user()                      # `api` runs no worker: the job stays as we set it
    project = await api.project_of(user)
    job = await api.post(f"/api/projects/{project['id']}/reports", user, expect=202)
    await db_conn.execute("""
        UPDATE jobs SET status = 'running', attempts = 1, max_attempts = 1,
                        worker_id = 'db-internal-7.corp:4242:abcdef', heartbeat_at = now() - interval '1 hour'
        WHERE id = $1::uuid""", job["id"])
    caplog.set_level(logging.WARNING, logger="service.jobs.worker")
    rescuer = await make_api(worker_settings(settings))
    done = await wait_job(rescuer, user, job["id"])
    assert done["status"] == "failed" and done["error"], done
    assert "db-internal-7" not in done["error"] and "4242" not in done["error"], done["error"]
    assert any("db-internal-7.corp:4242:abcdef" in r.getMessage() for r in caplog.records)


async def test_a_notice_to_an_internationalised_domain_goes_through_a_server_without_smtputf8(make_api, settings):
    """Before: a client email with a non-ASCII domain (accepted by the API) was sent as given,
    which needs SMTPUTF8: a server without it refused the notice on every attempt. The
    domain's ASCII form (IDNA) reaches the same mailbox through any server."""
    handler = RcptReply("250 OK")
    inbox = []

    async def handle_data(server, session, envelope):
        inbox.append(envelope)
        return "250 OK"
    handler.handle_DATA = handle_data
    with smtp_server(handler) as port:
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}", jobs_max_attempts=1))
        user = await api.user()
        client = await api.client_of(user, email="jose@ex\u00e4mple.com")
        project = await api.project_of(user, client["id"])
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        job = (await api.get("/api/jobs?kind=email", user))["items"][0]
        done = await wait_job(api, user, job["id"])
    assert done["status"] == "succeeded", done
    assert [envelope.rcpt_tos for envelope in inbox] == [["jose@xn--exmple-cua.com"]]


async def test_an_idempotency_key_whose_job_is_deleted_meanwhile_makes_a_new_job(api, settings, db_conn):
    """The enqueue's INSERT found the key taken (ON CONFLICT DO NOTHING), and its lookup of
    the job holding it ran next: a deletion in between (the job's project, owner or
    retention going) left the lookup empty, and the enqueue answered 500. The interleaving
    is forced here on the real database: the job is deleted right after the conflict."""
    from service.store import jobs as job_store
    user = await api.user()
    project = await api.project_of(user)
    first = await api.post(f"/api/projects/{project['id']}/reports", user, expect=202,
                           headers={"Idempotency-Key": "deleted-meanwhile"})
    db = api.client.app[keys.DB]

    class DeletingAfterTheConflict:
        """The service's database, deleting the key's job once its INSERT found the key taken."""
        def __init__(self) -> None:
            self.conflicts = 0

        async def execute(self, query, **params):
            return await db.execute(query, **params)

        async def fetchval(self, query, **params):
            value = await db.fetchval(query, **params)
            if query is job_store.INSERT and value is None:
                self.conflicts += 1
                await db_conn.execute("DELETE FROM jobs WHERE id = $1", first["id"])
            return value

    deleting = DeletingAfterTheConflict()
    job_id, created = await job_store.enqueue(deleting, owner_id=user.id, kind="report", project_id=project["id"],
                                              params={}, max_attempts=1, idempotency_key="deleted-meanwhile")
    assert deleting.conflicts == 1 and created and str(job_id) != first["id"]
    assert await db_conn.fetchval("SELECT idempotency_key FROM jobs WHERE id = $1", job_id) == "deleted-meanwhile"
    await db_conn.execute("DELETE FROM jobs WHERE id = $1", job_id)


async def test_an_empty_chunked_body_is_no_body_where_the_body_is_optional(api, db_conn):
    """The POSTs whose body is optional (exports, reports, runs) took Content-Length: 0 as no
    body, but answered an empty chunked body (the terminating chunk alone) 400 "request
    body is empty": the same request, framed otherwise."""
    user = await api.user()
    project = await api.project_of(user)

    async def nothing():
        return
        yield                                   # an async generator: aiohttp sends it chunked

    for path, status in (("exports", 202), ("reports", 202), ("runs", 201)):
        resp = await api.client.post(f"/api/projects/{project['id']}/{path}", data=nothing(),
                                     headers={**user.headers, "Content-Type": "application/json"})
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert resp.status == status, (path, await resp.text())
    await db_conn.execute("DELETE FROM jobs WHERE project_id = $1", project["id"])


async def test_a_template_named_none_is_not_merged_with_posts_without_one(make_api, settings, db_conn):
    """by_template named the posts without a template `none`, so a template the user named
    "none" was merged with them into one figure (2 + 3 posts reported as `none: 5`)."""
    api = await make_api(worker_settings(settings))
    user = await api.user()
    project = await api.project_of(user)
    for template in ("none", "none", None, None, None, "weekly"):
        body = {"project_id": project["id"], "content": "a post", "template_name": template}
        await api.post("/api/posts", user, json={k: v for k, v in body.items() if v is not None})
    job = await api.post(f"/api/projects/{project['id']}/reports", user, expect=202)
    assert (await wait_job(api, user, job["id"]))["status"] == "succeeded"
    resp = await api.client.get(f"/api/jobs/{job['id']}/result", headers=user.headers)
    report = await resp.json()
    assert report["by_template"] == {"none": 2, "weekly": 1} and report["without_template"] == 3, report


async def test_a_jobs_owner_reads_no_internal_detail_of_its_failure(make_api, settings):
    """A failure's whole text was the owner's `error`: an SMTP server that could not be
    reached named the service's relay host and port ('Error connecting to 127.0.0.1 on port
    N'), a lost database connection the database's. The owner now reads the class; the
    whole text is the operators', in /api/health/jobs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}", jobs_max_attempts=1))
    user, admin = await api.user(), await api.user(admin=True)
    client = await api.client_of(user, email="client@example.com")
    project = await api.project_of(user, client["id"])
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
    job = (await api.get("/api/jobs?kind=email", user))["items"][0]
    done = await wait_job(api, user, job["id"])
    assert done["status"] == "failed" and done["error"].startswith("SMTPConnectError"), done
    assert str(port) not in done["error"] and "127.0.0.1" not in done["error"], done["error"]
    failures = (await api.get("/api/health/jobs", admin))["recent_failures"]
    seen = next(f for f in failures if f["id"] == job["id"])
    assert str(port) in seen["error"] and seen["error"].startswith("SMTPConnectError: "), seen
