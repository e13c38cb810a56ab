"""Data the service must not expose: user data in what a METRICS_TOKEN scraper reads, a
bearer token in the log at any LOG_LEVEL, request bytes in the log of a refused request.
Each test states what must never be seen and where."""
from __future__ import annotations

import asyncio
import logging

from aiosmtpd.controller import Controller
from jobutil import wait_job, worker_settings
from live import served
from rawhttp import exchange, free_port, serving_on_a_port

from service.api.routes import ROUTES

SCRAPER_TOKEN = "probe-scraper-" + "s" * 32
SCRAPER = {"Authorization": f"Bearer {SCRAPER_TOKEN}"}
# Everything METRICS_TOKEN opens: the read-only admin health GETs and /metrics.
SCRAPER_PATHS = sorted({r.path for r in ROUTES if r.auth == "admin_or_metrics"}) + [
    "/metrics", "/api/health/profiling/queries?limit=1000", "/api/health/profiling/slow-queries?limit=100000"]




class RefusingInbox:
    """An SMTP server that refuses the recipient, as a real one does for an unknown mailbox."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


async def test_scraper_token_does_not_see_client_email_addresses_in_job_failures(make_api, settings):
    """A delivery notice the SMTP server refuses fails with aiosmtplib's SMTPRecipientsRefused,
    whose text names the recipient; the worker stores `f"{type}: {exc}"` as jobs.error, and
    recent_failures (GET /api/health/jobs, and /full's `jobs`) hands that error to the
    METRICS_TOKEN scraper: a user's client's email address in the monitoring system."""
    controller = Controller(RefusingInbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        api = await make_api(worker_settings(settings, smtp_url=f"smtp://127.0.0.1:{controller.port}",
                                             jobs_max_attempts=1, metrics_token=SCRAPER_TOKEN))
        user = await api.user()
        address = "private.person.7731@clientmail.example"
        client = await api.client_of(user, email=address)
        project = await api.project_of(user, client["id"])
        await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
        job = (await api.get("/api/jobs?kind=email", user))["items"][0]
        done = await wait_job(api, user, job["id"])
        assert done["status"] == "failed", done
        for path in ("/api/health/jobs", "/api/health/full"):
            resp, _ = await api.call("GET", path, headers=SCRAPER, expect=200)
            assert address not in await resp.text(), f"{path} shows a client's email address to the scraper"
    finally:
        controller.stop()


def test_debug_logging_never_writes_a_bearer_token(database_url, tmp_path):
    """LOG_LEVEL=DEBUG (a documented value) on `run.py serve`: the token cache is keyed by
    the raw bearer token ("token|<token>", auth/guards.py), and aiocache logs every SET
    with its key on logger aiocache.base at DEBUG, which configure_logging does not quiet.
    The token (and list keys with search terms) lands in the log."""
    with served(database_url, tmp_path, LOG_LEVEL="DEBUG") as service:
        _, password, token = service.user()
        assert service.call("GET", "/api/auth/me", token=token)[0] == 200
    log = (tmp_path / "serve.log").read_text()
    assert "DEBUG" in log                         # the level took effect
    assert password not in log
    assert token not in log, [line for line in log.splitlines() if token in line][:2]


async def test_scraper_visible_health_and_metrics_hold_no_user_data(make_api, settings):
    """Every query slow (threshold 0), a finished export and delivery notice, a failed login,
    a bogus token, odd paths and verbs: nothing a user sent (token, password, email, names,
    content, search text, Idempotency-Key, a raw path) reaches what METRICS_TOKEN opens."""
    api = await make_api(worker_settings(settings, slow_query_threshold_ms=0.0, very_slow_query_threshold_ms=0.0,
                                         metrics_token=SCRAPER_TOKEN, smtp_url=None))
    password = "Pw-Zebra-Quokka-991"
    user = await api.user(password=password)
    marks = {"token": user.token, "email": user.email, "password": password, "client": "Clientname-Walrus-77",
             "client_email": "walrus.contact.77@clientmail.example", "project": "Projname-Narwhal-55",
             "content": "Postcontent-Axolotl-31", "template": "Tmpl-Okapi-12", "search": "Searchterm-Pangolin",
             "idempotency": "Idem-Key-Capybara-42", "wrong_password": "Wrong-Pw-Ibex-8",
             "bogus_token": "Bogus-Token-Lemur-3", "path": "Rawpath-Gecko-5"}
    client = await api.client_of(user, name=marks["client"], email=marks["client_email"])
    project = await api.project_of(user, client["id"], name=marks["project"])
    await api.post("/api/posts", user, json={"project_id": project["id"], "content": marks["content"],
                                             "template_name": marks["template"]})
    await api.get(f"/api/posts?search={marks['search']}", user)
    _, job = await api.call("POST", f"/api/projects/{project['id']}/exports", user, expect=202,
                            headers={"Idempotency-Key": marks["idempotency"]})
    await wait_job(api, user, job["id"])
    await api.patch(f"/api/projects/{project['id']}", user, json={"status": "delivered"})
    for notice in (await api.get("/api/jobs?kind=email", user))["items"]:
        assert (await wait_job(api, user, notice["id"]))["status"] == "succeeded"
    await api.call("POST", "/api/auth/login", json={"email": user.email, "password": marks["wrong_password"]},
                   expect=401)
    await api.call("GET", "/api/clients", headers={"Authorization": f"Bearer {marks['bogus_token']}"}, expect=401)
    for method in ("GET", "PUT", "PROPFIND", "DELETE"):
        await api.call(method, f"/api/{marks['path']}/x", user, expect=404)
        await api.call(method, f"/api/clients/{marks['path']}", user)
    for path in SCRAPER_PATHS:
        resp, _ = await api.call("GET", path, headers=SCRAPER, expect=200)
        text = (await resp.text()).lower()
        shown = [name for name, value in marks.items() if value.lower() in text]
        assert not shown, f"{path} shows {shown}"


async def test_refused_requests_leave_no_request_bytes_in_the_log(settings, caplog):
    """On the real connection handler (as `run.py serve`), aiohttp's own handle_error would log
    its parser message, which quotes the offending line (an Authorization header with it);
    protocol.py's logs the exception class only. Checked at DEBUG, every logger."""
    secret = "SecretToken-Marmot-123456"
    caplog.set_level(logging.DEBUG)
    requests = [
        b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nX-Bad\x01: Bearer " + secret.encode() + b"\r\n\r\n",
        b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret.encode()
        + b"\r\nContent-Length: x" + secret.encode() + b"\r\n\r\n",
        b"GET /api/" + secret.encode() + b"\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"pas\r\nzz" + secret.encode() + b"\r\n",
        b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret.encode(),   # header timeout
        b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + secret.encode() + b"\r\n\r\n",
    ]
    async with serving_on_a_port(settings.replace(request_header_timeout_s=1.0)) as (port, _, _):
        for raw in requests:
            answer = await exchange("127.0.0.1", port, raw, limit=10)
            assert answer.startswith(b"HTTP/1.") and secret.encode() not in answer, answer[:300]
        await asyncio.sleep(0.3)
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        assert secret not in text, (record.name, text[:400])
