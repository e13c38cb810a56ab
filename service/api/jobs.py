"""/api/projects/{id}/exports and /reports (enqueue), /api/jobs (list, get, cancel, result)."""
from __future__ import annotations

import logging
from uuid import UUID

from aiohttp import web

from service import keys
from service.api.common import db_of, list_response
from service.auth.guards import require_user
from service.auth.user import User
from service.errors import ApiError, Conflict, InvalidParameter, NotFound
from service.http import security_headers
from service.http.body import read_optional_json
from service.http.callers import caller_key
from service.http.middleware import server_timing
from service.http.responses import _etag_matches, json_response
from service.jobs import quota
from service.schemas import jobs as schema
from service.schemas.validate import parse_id, validate_body
from service.store import jobs, projects

log = logging.getLogger(__name__)

# Chunks read per query while a result streams out (each chunk is at most 1 MiB). One:
# a download holds what it read until the client takes it, and with 4 per query 60
# downloads that read nothing held 239 MiB (one user may open 256 connections).
DOWNLOAD_CHUNKS_PER_READ = 1
PAGED_DOWNLOAD_QUERIES = frozenset({jobs.RESULT_CHUNKS.name})


class JobNotFinished(ApiError):
    status, code = 409, "job_not_finished"


class IdempotencyKeyReused(ApiError):
    status, code = 422, "idempotency_key_reused"


class ResultDeleted(Exception):
    """A result's job was deleted while the result was being downloaded."""


def _idempotency_key(request: web.Request) -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not 1 <= len(raw) <= schema.IDEMPOTENCY_KEY_MAX or not raw.isprintable():
        raise InvalidParameter(f"Idempotency-Key must be 1 to {schema.IDEMPOTENCY_KEY_MAX} printable characters",
                               field="Idempotency-Key")
    return raw


async def _enqueue_for_project(request: web.Request, kind: str, schema_of_body: type) -> web.Response:
    """The caller first: an anonymous request is 401 before a byte of its body is read (a
    token-less client cannot make the loop parse more than 16 KiB, README "Limits"). Then
    the project id and Idempotency-Key (cheap), then the body (up to 8 MiB), then one
    transaction: the project must be the caller's, the job is inserted, and the caller must
    still be within JOBS_MAX_ACTIVE_PER_USER jobs queued or running and
    JOBS_MAX_RESULT_BYTES_PER_USER bytes of stored results (else 429, and the job rolls
    back; a repeated Idempotency-Key makes no job and is answered)."""
    user = await require_user(request)
    project_id = parse_id(request.match_info["id"], "project")
    key = _idempotency_key(request)
    body = validate_body(await read_optional_json(request), schema_of_body)
    params = _params(kind, body)
    settings = request.app[keys.SETTINGS]
    async with db_of(request).transaction() as tx:
        await jobs.lock_owner(tx, user.id)          # first: before the project's row lock (quota.py)
        if not await projects.visible(tx, project_id, user.scope):
            raise NotFound("project not found")
        job_id, created = await jobs.enqueue(tx, owner_id=user.id, kind=kind, project_id=project_id,
                                             params=params, max_attempts=settings.jobs_max_attempts,
                                             idempotency_key=key)
        if created:
            await quota.require_room(tx, owner_id=user.id, cap=settings.jobs_max_active_per_user)
            await quota.require_result_room(tx, owner_id=user.id, cap=settings.jobs_max_result_bytes_per_user,
                                            retention_hours=settings.jobs_retention_hours)
        row = await jobs.get(tx, job_id, None)
        if not created and (row["kind"], row["project_id"]) != (kind, project_id):
            # The key names a job of another kind or project: answering with it would hand
            # an export of project A to a request for a report of project B.
            raise IdempotencyKeyReused(f"Idempotency-Key already names another job ({row['kind']}) of another project "
                                       "or kind; use a new key for this request", field="Idempotency-Key")
    response = json_response(request, jobs.detail(row), status=202 if created else 200)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return response


def _params(kind: str, body: dict) -> dict:
    if kind == "export":
        return {"format": body.get("format") or "csv", "status": body.get("status"),
                "platform": body.get("platform")}
    return {}


async def create_export(request: web.Request) -> web.Response:
    return await _enqueue_for_project(request, "export", schema.EXPORT)


async def create_report(request: web.Request) -> web.Response:
    return await _enqueue_for_project(request, "report", schema.REPORT)


async def list_jobs(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_filters(filters: dict) -> dict:
        return jobs.list_filters(user.scope, **filters)

    # Jobs change as workers run them: their answers are never cached (cache/invalidation.py).
    return await list_response(request, user, jobs.LIST, schema.FILTERS, build_filters, jobs.detail,
                               tier=None)


async def _job(request: web.Request, user: User) -> tuple[UUID, dict]:
    job_id = parse_id(request.match_info["id"], "job")
    row = await jobs.get(db_of(request), job_id, user.scope)
    if row is None:
        raise NotFound("job not found")
    return job_id, jobs.detail(row)


async def get_job(request: web.Request) -> web.Response:
    _, job = await _job(request, await require_user(request))
    return json_response(request, job)


async def cancel_job(request: web.Request) -> web.Response:
    user = await require_user(request)
    job_id = parse_id(request.match_info["id"], "job")
    if not await jobs.cancel(db_of(request), job_id, user.scope):
        row = await jobs.get(db_of(request), job_id, user.scope)
        if row is None:
            raise NotFound("job not found")
        raise Conflict(f"job already finished ({row['status']})", code="job_finished")
    _, job = await _job(request, user)
    return json_response(request, job)


async def job_result(request: web.Request) -> web.StreamResponse:
    user = await require_user(request)
    job_id = parse_id(request.match_info["id"], "job")
    db = db_of(request)
    row = await jobs.result(db, job_id, user.scope)
    if row is None:
        raise NotFound("job not found")
    if row["sha256"] is None:
        # An email or maintenance job has no file even once it has succeeded.
        raise JobNotFinished(f"job has no result: it is {row['status']}" if row["status"] != "succeeded"
                             else f"job has no result: {row['kind']} jobs make no file")
    etag = f'"{row["sha256"]}"'
    ctx = request[keys.REQUEST_CTX]
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "X-Request-ID": ctx.request_id}
    if _etag_matches(request.headers.get("If-None-Match"), etag):      # "*" too, as every other GET
        return web.Response(status=304, headers=headers)
    with request.app[keys.STREAM_SLOTS].taken(caller_key(request)):    # 429/503 before a byte is sent
        response = web.StreamResponse(status=200, headers={
            **headers,
            "Content-Type": row["content_type"],
            "Content-Disposition": f'attachment; filename="{row["filename"]}"',
            "Content-Length": str(row["bytes"]),
            "Server-Timing": server_timing(ctx),
        })
        security_headers.apply(response)      # streamed: sent before the middleware sees it
        await response.prepare(request)
        sent, seq = 0, 0
        # One read per chunk is the point (memory holds one): not an N+1 for the profiler.
        ctx.paged_queries = PAGED_DOWNLOAD_QUERIES
        try:
            while sent < row["bytes"]:
                chunks = await jobs.result_chunks(db, job_id, row["attempt"], seq, DOWNLOAD_CHUNKS_PER_READ)
                if not chunks:
                    if await jobs.get(db, job_id, None) is None:
                        raise ResultDeleted()
                    raise RuntimeError(f"result of job {job_id} ends after {sent} of {row['bytes']} bytes")
                for chunk in chunks:
                    await response.write(chunk["data"])
                    sent += len(chunk["data"])
                seq = chunks[-1]["seq"] + 1
        except web.HTTPException:
            raise
        except ResultDeleted:
            # The job went with its project, client or owner (the caller may delete their own
            # project mid-download), or its retention passed: not a fault, so no traceback at
            # ERROR. The connection is cut short of Content-Length, the only signal left.
            log.info("result download of job %s: the job was deleted after %d of %d bytes (request_id=%s)",
                     job_id, sent, row["bytes"], ctx.request_id)
            if request.transport is not None:
                request.transport.close()
            return response
        except Exception as exc:
            if isinstance(exc, ConnectionError) and (request.transport is None or request.transport.is_closing()):
                # The client went away mid-download (a reset fails the drain, a close the next
                # write). Its doing, not a fault: no traceback at ERROR, and no raise, which the
                # middleware would log as unhandled and count as a 500.
                log.info("result download of job %s: the client went away after %d of %d bytes (request_id=%s)",
                         job_id, sent, row["bytes"], ctx.request_id)
                return response
            # Headers are gone: the only honest signal left is a cut connection short of Content-Length.
            log.exception("result download of job %s broke off (request_id=%s)", job_id, ctx.request_id)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
    return response
