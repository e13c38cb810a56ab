"""Delivery notices: when a project's status becomes `delivered` and its client has an
email, PATCH /api/projects/{id} enqueues an email job in its own transaction
(`enqueue_delivery_notice`). The job sends it through SMTP_URL with aiosmtplib; with
no SMTP_URL the message is kept in the email_outbox table (once per job) and logged.

SMTP is outside the database's transaction: a worker that dies after the server
accepted the message and before the job is marked succeeded sends it again on the
retry. The Message-ID is derived from the job id, so such a duplicate is
recognisable (and dropped by servers that deduplicate on it).

The message is written from the client and project as they are when it is sent, not
as they were when the project was delivered (the job's params): a notice retried
while the SMTP server was down, after the owner corrected a mistyped client email,
went to the old address. A client without an email by then gets none, and so does a
project reopened meanwhile (the notice told its client it was delivered).
"""
from __future__ import annotations

import logging
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit
from uuid import UUID

import aiosmtplib
import idna

from service.jobs import quota
from service.jobs.queue import FailedForGood
from service.jobs.worker import Job
from service.settings import Settings
from service.store import jobs

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 30


# One notice per project per idempotency window (24 h, sql/jobs/release_idempotency_key.sql):
# a project set to delivered, reopened and delivered again, over and over, would otherwise
# mail its client each time, and grow the queue without bound (the cap does not refuse the
# service's own jobs). The tab keeps the key apart from every key a caller can send
# (Idempotency-Key is printable characters only, api/jobs.py).
_NOTICE_KEY = "delivery-notice\t{project_id}"


async def enqueue_delivery_notice(tx, settings: Settings, project_id: UUID, contact,
                                  caller_id: UUID) -> UUID | None:
    """Enqueue the notice in the caller's transaction; None when the client has no email.
    A project already noticed within 24 hours gets no second notice (the first job's id).

    The owner's own write is held to their share of the queue (JOBS_MAX_ACTIVE_PER_USER):
    past it, 429 and the write rolls back. Without it one user held any number of queued
    notices, one per project created or PATCHed delivered, each to an address of their
    choosing (a mail bomb through the service's SMTP relay). The caller's transaction took
    the owner lock first (`jobs.lock_owner`), so racing writes cannot overshoot. An admin's
    write on another user's project is not refused for that user's jobs."""
    if contact is None or not contact["client_email"]:
        return None
    job_id, created = await jobs.enqueue(tx, owner_id=contact["owner_id"], kind="email", project_id=project_id,
                                         params=notice(contact), max_attempts=settings.jobs_max_attempts,
                                         idempotency_key=_NOTICE_KEY.format(project_id=project_id))
    if created and contact["owner_id"] == caller_id:
        await quota.require_room(tx, owner_id=caller_id, cap=settings.jobs_max_active_per_user)
    return job_id


def notice(contact) -> dict[str, str]:
    """to, subject and body of the notice to a project's client."""
    return {
        "to": contact["client_email"],
        # One line: a project name may hold a line break, which a mail header refuses.
        "subject": f"Your project \"{' '.join(contact['project_name'].split())}\" has been delivered",
        "body": (f"Hello {contact['client_name']},\n\n"
                 f"your project \"{contact['project_name']}\" has been delivered.\n\n"
                 "-- Content Jumpstart\n"),
    }


def ascii_domain(address: str) -> str:
    """The address with an internationalised domain in its ASCII form (IDNA 2008 A-labels,
    RFC 5890), which every SMTP server takes: as given (`jose@exämple.com`) it needs SMTPUTF8
    (RFC 6531), which many servers lack, and the notice was refused. A local part that is
    not ASCII has no such form: it stays, and needs a server with SMTPUTF8."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        # IDNA 2008 with UTS 46 mapping, as registries and mail programs: Python's own codec
        # is IDNA 2003, which maps ß to "ss" and ς to σ, so ana@straße.de was sent to
        # ana@strasse.de, another domain.
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        pass
    try:
        # Names IDNA 2008 refuses (symbols) but IDNA 2003 encoded, and registries kept.
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:            # not a valid IDNA name at all: as given
        return address


class EncodedHeader(str):
    """A header whose text is sent as RFC 2047 encoded words (UTF-8), so a mail program
    reads back exactly that text. A plain str is parsed by the email package, which decodes
    whatever in it looks like an encoded word and writes the decoded text out raw: a project
    named `=?utf-8?q?x=0D=0ABcc:_evil@example.org?=` put a line break, then headers of its
    owner's choosing, into the notice. Its folding also dropped the space between two
    encoded words of a non-ASCII name. (EmailPolicy keeps and folds a value that has a
    `name` as it is.)"""

    def __new__(cls, name: str, text: str) -> EncodedHeader:
        header = super().__new__(cls, text)
        header.name = name
        return header

    def fold(self, *, policy) -> str:
        encoded = Header(str(self), "utf-8", header_name=self.name).encode(linesep=policy.linesep)
        return f"{self.name}: {encoded}{policy.linesep}"


def subject_header(text: str) -> str | EncodedHeader:
    """Printable ASCII without `=?` as it is (readable in the raw message); anything else encoded."""
    if all(" " <= ch <= "~" for ch in text) and "=?" not in text:
        return text
    return EncodedHeader("Subject", text)


def message_of(job: Job, params: dict[str, str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = job.settings.smtp_from
    message["To"] = ascii_domain(params["to"])
    message["Subject"] = subject_header(params["subject"])
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<job-{job.id}@content-jumpstart>"
    message.set_content(params["body"])
    return message


class NoticeRefused(FailedForGood):
    """The SMTP server refused the notice for good: the job fails at once, without retries."""


def refused_for_good(exc: Exception) -> bool:
    """Whether a retry would be refused the same way: a 5xx reply (RFC 5321: permanent; the
    greeting's aside, which servers also use while overloaded), every recipient refused with
    one, or an extension the message needs and the server lacks (SMTPUTF8 for a non-ASCII
    address). A refused address was retried JOBS_MAX_ATTEMPTS times, up to 100, each time
    asking the relay again for hours of backoff."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= r.code < 600 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return False
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 500 <= exc.code < 600
    return isinstance(exc, aiosmtplib.SMTPNotSupported)


async def send(settings: Settings, message: EmailMessage) -> None:
    url = urlsplit(settings.smtp_url)
    tls = url.scheme == "smtps"
    try:
        await aiosmtplib.send(message, hostname=url.hostname, port=url.port or (465 if tls else 25),
                              username=unquote(url.username) if url.username else None,
                              password=unquote(url.password) if url.password else None,
                              use_tls=tls, start_tls=None if not tls else False, timeout=SMTP_TIMEOUT_S)
    except aiosmtplib.SMTPException as exc:
        if refused_for_good(exc):
            raise NoticeRefused(f"{type(exc).__name__}: {exc}") from exc
        raise


def _nothing_to_send(contact) -> str | None:
    """Why no notice goes out for the project as it is now, if none does."""
    if contact is None or not contact["client_email"]:
        return "the client has no email any more"
    if contact["project_status"] != "delivered":
        return f"the project is {contact['project_status']} again, no longer delivered"
    return None


async def run(job: Job) -> None:
    job.total = 1
    async with job.db.transaction() as tx:
        contact = await jobs.notice_contact(tx, project_id=job.project_id)
        reason = _nothing_to_send(contact)
        if reason is not None:
            job.done = 1
            if contact is not None and contact["project_status"] != "delivered":
                # Reopened before the notice went out: the next delivery is noticed (the key
                # would otherwise hold it off for 24 hours, and the client would get none).
                await jobs.release_notice_key(tx, job_id=job.id)
            await job.succeed(tx)
    if reason is not None:
        log.info("email job %s: %s; no notice sent", job.id, reason)
        return
    params = notice(contact)
    message = message_of(job, params)
    if job.settings.smtp_url:
        await send(job.settings, message)
        log.info("email job %s: delivery notice sent to %s", job.id, params["to"])
        job.done = 1
        # Sent: a cancellation asked for meanwhile (the server can take tens of seconds)
        # cannot call the message back, and a job marked cancelled would say that the
        # client got nothing.
        async with job.db.transaction() as tx:
            await job.succeed(tx, despite_cancel=True)
        return
    async with job.db.transaction() as tx:
        kept = await jobs.keep_in_outbox(tx, job_id=job.id, to_address=params["to"],
                                         subject=params["subject"], body=params["body"])
        job.done = 1
        await job.succeed(tx)
    if kept:
        log.info("email job %s: no SMTP_URL; delivery notice to %s kept in email_outbox (subject %r)",
                 job.id, params["to"], params["subject"])
