"""Probes of what background jobs produce (docs/API.md section 8): the delivery notice as
the client's mail program reads it, the exports' and reports' contents, their downloads."""
from __future__ import annotations

import email
import email.policy

from jobutil import wait_for, wait_job, worker_settings
from test_jobs_email import smtp_inbox


async def _received(inbox):
    return inbox.messages or None


async def test_a_project_name_that_looks_like_an_encoded_word_is_sent_as_written(make_api, settings):
    """Python's email package decodes whatever in a header value looks like an RFC 2047
    encoded word, and writes the decoded text out raw: a project named
    `=?utf-8?q?x=0D=0ABcc:_evil@example.org?=` put a line break into the notice's Subject,
    and so a header of the owner's choosing (Bcc:, Reply-To:, or a blank line and a body of
    their own) into the mail the service sent the client. Its folding also dropped the space
    between two encoded words of a non-ASCII name. The client reads the subject as written."""
    names = ['=?utf-8?q?x=0D=0ABcc:_evil@example.org=0D=0AReply-To:_evil@example.org?=',
             'Café مرحبا e\u0301 "𝕳" =?utf-8?b?eA0KWC1BOiAx?= \x01 end']
    with smtp_inbox() as (inbox, port):
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        user = await api.user()
        for name in names:
            inbox.messages.clear()
            client = await api.client_of(user, email="client@example.com")
            project = await api.project_of(user, client["id"], name=name)
            await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
            job = next(j for j in (await api.get("/api/jobs?kind=email", user))["items"]
                       if j["project_id"] == project["id"])
            assert (await wait_job(api, user, job["id"]))["status"] == "succeeded"
            await wait_for(lambda: _received(inbox), what="the message")
            envelope = inbox.messages[0]
            assert envelope.rcpt_tos == ["client@example.com"]
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert [k for k, _ in message.items()] == ["From", "To", "Subject", "Date", "Message-ID", "Content-Type",
                                                       "Content-Transfer-Encoding", "MIME-Version"], message.items()
            assert message.get_all("Subject") == [f'Your project "{name}" has been delivered']
            assert f'your project "{name}" has been delivered.' in message.get_content()


async def test_a_project_reopened_before_its_notice_is_sent_gets_none(make_api, settings):
    """Delivered by mistake and reopened at once, while the notice waits in the queue (behind
    other jobs, or for the SMTP server to come back): the notice went out anyway, telling the
    client "your project has been delivered" about a project that is not. It is written from
    the project as it is when it is sent: a project not delivered by then gets none, and its
    next delivery (within the 24 hours a notice holds) is noticed once."""
    with smtp_inbox() as (inbox, port):
        idle = await make_api(settings.replace(smtp_url=f"smtp://127.0.0.1:{port}"))
        user = await idle.user()
        client = await idle.client_of(user, email="client@example.com")
        project = await idle.project_of(user, client["id"], name="Spring launch")
        await idle.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        await idle.patch(f"/api/projects/{project['id']}", user, json={"status": "ready"})
        first = (await idle.get("/api/jobs?kind=email", user))["items"]
        assert len(first) == 1
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        assert (await wait_job(api, user, first[0]["id"]))["status"] == "succeeded"
        assert inbox.messages == []
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        jobs = (await api.get("/api/jobs?kind=email", user))["items"]
        assert len(jobs) == 2
        assert (await wait_job(api, user, jobs[0]["id"]))["status"] == "succeeded"
        await wait_for(lambda: _received(inbox), what="the message")
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "ready"})
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        assert len((await api.get("/api/jobs?kind=email", user))["items"]) == 2
        assert len(inbox.messages) == 1


async def test_a_notice_to_a_domain_with_sharp_s_goes_to_that_domain(make_api, settings):
    """The ASCII form of a non-ASCII domain was Python's `idna` codec, IDNA 2003, which maps
    ß to "ss" and ς to σ: the notice for ana@straße.de went to ana@strasse.de, another
    domain (another owner), with the client's name and project. IDNA 2008 (UTS 46, as
    registries and mail programs use it) keeps them: xn--strae-oqa.de."""
    with smtp_inbox() as (inbox, port):
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        user = await api.user()
        sent = []
        for address, ascii_form in (("ana@stra\u00dfe.de", "ana@xn--strae-oqa.de"),
                                    ("ana@\u03b5\u03bb\u03bb\u03ac\u03c2.gr", "ana@xn--hxarsa0b.gr")):
            client = await api.client_of(user, email=address)
            project = await api.project_of(user, client["id"])
            await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
            job = next(j for j in (await api.get("/api/jobs?kind=email", user))["items"]
                       if j["project_id"] == project["id"])
            assert (await wait_job(api, user, job["id"]))["status"] == "succeeded"
            sent.append(ascii_form)
        await wait_for(lambda: _received_all(inbox, len(sent)), what="the messages")
        assert sorted(e.rcpt_tos[0] for e in inbox.messages) == sorted(sent)


async def _received_all(inbox, count: int):
    return len(inbox.messages) >= count
