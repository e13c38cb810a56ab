"""Delivery notices: a project that becomes delivered gets an email job in the PATCH's
transaction; sent through a real SMTP server (aiosmtpd) when SMTP_URL is set, kept in
the outbox otherwise; retried with backoff when the server is down, up to max attempts."""
from __future__ import annotations

import contextlib
import socket

from aiosmtpd.controller import Controller
from jobutil import job_row, wait_for, wait_job, worker_settings


class Inbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def smtp_inbox():
    """A real SMTP server (aiosmtpd) on a free port: (inbox, port)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _delivered_project(api, user, email: str | None = "client@example.com"):
    client = await api.client_of(user, **({"email": email} if email else {}))
    project = await api.project_of(user, client["id"], name="Spring launch")
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
    jobs = await api.get("/api/jobs?kind=email", user)
    return project, jobs["items"]


async def test_delivered_project_sends_a_notice_through_smtp(make_api, settings):
    with smtp_inbox() as (inbox, port):
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        user = await api.user()
        project, jobs = await _delivered_project(api, user)
        assert len(jobs) == 1 and jobs[0]["project_id"] == project["id"]
        done = await wait_job(api, user, jobs[0]["id"])
        assert done["status"] == "succeeded", done
        await wait_for(lambda: _ready(inbox.messages), what="the message")
        envelope = inbox.messages[0]
        assert envelope.rcpt_tos == ["client@example.com"]
        text = envelope.content.decode()
        assert "Subject: Your project \"Spring launch\" has been delivered" in text
        assert f"Message-ID: <job-{done['id']}@content-jumpstart>" in text
        # Delivered again (a PATCH that keeps the status) sends nothing more.
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered", "name": "Renamed"})
        assert len((await api.get("/api/jobs?kind=email", user))["items"]) == 1


async def test_a_project_name_with_a_line_break_still_gets_its_notice(make_api, settings):
    """A mail header holds one line: the name's line break becomes a space in the subject,
    instead of failing every attempt of the notice."""
    with smtp_inbox() as (inbox, port):
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        user = await api.user()
        client = await api.client_of(user, email="client@example.com")
        project = await api.project_of(user, client["id"], name="Spring\r\nBcc: someone@example.org")
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        job = (await api.get("/api/jobs?kind=email", user))["items"][0]
        assert (await wait_job(api, user, job["id"]))["status"] == "succeeded"
        await wait_for(lambda: _ready(inbox.messages), what="the message")
        assert inbox.messages[0].rcpt_tos == ["client@example.com"]
        assert 'Subject: Your project "Spring Bcc: someone@example.org" has been delivered' in \
            inbox.messages[0].content.decode()
        # A succeeded email job has no file, and says why (not "it is succeeded").
        _, body = await api.call("GET", f"/api/jobs/{job['id']}/result", user, expect=409)
        assert body["error"]["code"] == "job_not_finished"
        assert body["error"]["message"] == "job has no result: email jobs make no file", body


async def _ready(value):
    return value


async def test_without_smtp_url_the_notice_is_kept_in_the_outbox(make_api, settings, db_conn):
    api = await make_api(worker_settings(settings, smtp_url=None))
    user = await api.user()
    project, jobs = await _delivered_project(api, user, email="someone@example.org")
    done = await wait_job(api, user, jobs[0]["id"])
    assert done["status"] == "succeeded", done
    kept = await db_conn.fetch("SELECT to_address, subject, body FROM email_outbox WHERE job_id = $1::uuid",
                               done["id"])
    assert len(kept) == 1 and kept[0]["to_address"] == "someone@example.org"
    assert "Spring launch" in kept[0]["subject"] and "delivered" in kept[0]["body"]


async def test_a_project_delivered_again_and_again_notices_its_client_once_a_day(api, db_conn):
    """Delivered, reopened and delivered again (ten times): one notice, not ten mails to the
    client and ten jobs in the queue; after the 24 h idempotency window a new delivery is
    noticed again. Another project of the same client gets its own notice."""
    user = await api.user()
    project, jobs = await _delivered_project(api, user)
    for _ in range(10):
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "ready"})
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
    assert len((await api.get("/api/jobs?kind=email", user))["items"]) == 1
    await db_conn.execute("UPDATE jobs SET created_at = created_at - interval '25 hours' WHERE id = $1::uuid",
                          jobs[0]["id"])
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "ready"})
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
    assert len((await api.get("/api/jobs?kind=email", user))["items"]) == 2
    other = await api.project_of(user, project["client_id"], name="Autumn launch")
    await api.patch(f"/api/projects/{other['id']}", user, json={"status": "delivered"})
    assert len((await api.get("/api/jobs?kind=email", user))["items"]) == 3


async def test_no_notice_for_a_client_without_email_or_another_status(api):
    user = await api.user()
    _, jobs = await _delivered_project(api, user, email=None)
    assert jobs == []
    client = await api.client_of(user, email="c@example.com")
    project = await api.project_of(user, client["id"])
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "ready"})
    assert (await api.get("/api/jobs?kind=email", user))["items"] == []


async def test_smtp_down_retries_with_backoff_then_fails_keeping_the_error(make_api, settings, database_url):
    base = 0.2
    api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{_free_port()}",
                                         jobs_max_attempts=3, jobs_backoff_base_s=base, jobs_backoff_max_s=5.0))
    user = await api.user()
    _, jobs = await _delivered_project(api, user)
    done = await wait_job(api, user, jobs[0]["id"])
    assert done["status"] == "failed" and done["attempts"] == 3 and done["max_attempts"] == 3
    assert done["error"] and "connect" in done["error"].lower()
    row = await job_row(database_url, done["id"])
    # Waits of at least half of base x 2^(n-1) after attempts 1 and 2 (the jitter keeps the upper half).
    assert (row["finished_at"] - row["created_at"]).total_seconds() >= base / 2 + base
    health = await api.get("/api/health/jobs", await api.user(admin=True))
    assert done["id"] in {str(f["id"]) for f in health["recent_failures"]}
