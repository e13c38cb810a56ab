"""The one request middleware: request id and context, errors as JSON, after-write
hooks, X-Request-ID and Server-Timing, and the request-finished hooks."""
from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from service import keys
from service.context import RequestContext, current_request
from service.errors import ApiError, DatabaseConnectionLost
from service.http import security_headers
from service.http.body import MAX_BODY_BYTES
from service.http.callers import caller_key
from service.http.responses import error_response
from service.http.unsent_answers import SMALL_ANSWER_BYTES

log = logging.getLogger("service.web")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


# Generated ids: a random per-process prefix and a counter. Unique without a
# urandom call per request (uuid4 was a visible cost on the cached path).
_ID_PREFIX = uuid.uuid4().hex[:12]
_id_counter = itertools.count(1)


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get("X-Request-ID")
    if incoming and _SAFE_REQUEST_ID.match(incoming):
        return incoming
    return f"{_ID_PREFIX}-{next(_id_counter):x}"


def _route_template(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


def server_timing(ctx: RequestContext) -> str:
    value = f'db;dur={ctx.db_ms:.2f};desc="{ctx.queries} queries"'
    if ctx.cache is not None:
        value += f', cache;desc="{ctx.cache}"'
    return value


# finished(ctx, method, status, elapsed seconds), called once per answered request
RequestFinished = Callable[[RequestContext, str, int, float], None]
# after_write(request), awaited after a successful write, before the response goes out
AfterWrite = Callable[[web.Request], Awaitable[None]]
# failed_write(request, error), called after a write answered 503, before the response goes out
FailedWrite = Callable[[web.Request, ApiError], None]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


_HTTP_CODES = {
    404: ("not_found", "no such route"),
    405: ("method_not_allowed", "method not allowed on this route"),
    413: ("payload_too_large", f"request body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB"),
}


def _http_error_response(exc: web.HTTPException, request_id: str) -> web.Response:
    code, message = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return error_response(exc.status, code, message, request_id, headers=headers)


_IDEMPOTENT_READS = frozenset({"GET", "HEAD"})


async def _handle(handler, request: web.Request, ctx: RequestContext) -> web.StreamResponse:
    """The handler; an idempotent read that lost its database connection mid-statement
    (server restart, reset) runs once more, on a connection the pool has just checked
    (db/pool.py pings every connection idle since the fault). A second loss is the 503."""
    try:
        return await handler(request)
    except DatabaseConnectionLost:
        if request.method not in _IDEMPOTENT_READS:
            raise
        log.info("database connection lost under %s %s (request_id=%s); retrying once",
                 request.method, ctx.endpoint, ctx.request_id)
        ctx.retried = True
        return await handler(request)


def _admit_answer(request: web.Request, response: web.StreamResponse, how: str = "admit_answer") -> None:
    """A large read's answer, before it is written: 429/503 when its caller's (or everyone's)
    earlier answers still wait unread in this worker (http/unsent_answers.py); a write's
    (how="admit_write_answer"): never refused, room is made by aborting stalled answers.
    Only on the served connection handler (http/protocol.py), which counts the unsent bytes."""
    if not isinstance(response, web.Response) or response.prepared:
        return                        # streamed (a job's result): written chunk by chunk, after drains
    size = response.content_length
    if size is not None and size > SMALL_ANSWER_BYTES:
        admit = getattr(request.protocol, how, None)
        if admit is not None:
            admit(caller_key(request), size)


def expectation_failed(request: web.BaseRequest, finished: Sequence[RequestFinished] = ()) -> web.Response:
    """417 in the error envelope, the connection closed (the client may send its body anyway).
    Answered before the middleware, so the finished hooks (metrics, access log) are called
    here: like every answered request, it is counted and logged, on no route."""
    request_id = _request_id(request)
    response = error_response(417, "expectation_failed", "only the expectation 100-continue is supported",
                              request_id)
    ctx = RequestContext(request_id=request_id, endpoint="unmatched", method=request.method)
    response.headers["X-Request-ID"] = request_id
    response.headers["Server-Timing"] = server_timing(ctx)
    security_headers.apply(response)
    response.force_close()
    for hook in finished:
        hook(ctx, request.method, 417, 0.0)
    return response


def refusing_unknown_expectations(handle: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
                                  finished: Sequence[RequestFinished] = ()):
    """The app's request handler (http/protocol.py), answering an Expect other than
    100-continue before routing, in the error envelope, on every path: aiohttp's own
    expect handler runs before any middleware and answers it in plain text, with no
    X-Request-ID and no security headers, echoing the header. 100-continue goes on to
    aiohttp's. A plain function returning the awaitable: no extra coroutine per request."""
    def handle_request(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        expect = request.headers.get("Expect")
        if expect is not None and expect.lower() != "100-continue":
            return _answered(expectation_failed(request, finished))
        return handle(request)
    return handle_request


async def _answered(response: web.StreamResponse) -> web.StreamResponse:
    return response


@web.middleware
async def request_middleware(request: web.Request, handler):
    """The one middleware. Each middleware layer costs a coroutine on every request,
    so request context, errors and after-write hooks share one:

    - request id (echo a safe incoming X-Request-ID or make one) and the per-request
      context the database layer reports into;
    - ApiError and aiohttp's HTTP errors become the JSON error shape of docs/API.md
      section 3; anything unexpected is logged with the request id and answered 500
      with no detail;
    - after a successful write (handlers commit before they return), the AFTER_WRITE
      hooks run (cache invalidation) before the response is sent;
    - X-Request-ID, Server-Timing and the security headers (http/security_headers.py)
      on every response, then the REQUEST_FINISHED hooks (HTTP metrics, N+1
      detection, access log).
    """
    start = time.perf_counter()
    ctx = RequestContext(request_id=_request_id(request), endpoint=_route_template(request), method=request.method)
    request[keys.REQUEST_CTX] = ctx
    token = current_request.set(ctx)
    app = request.app
    status = 0    # stays 0 when the client went away (cancelled): nothing to report
    try:
        try:
            response = await _handle(handler, request, ctx)
            if request.method == "GET":
                _admit_answer(request, response)
        except ApiError as exc:
            if exc.status == 503 and request.method not in _READ_METHODS:
                for failed_write in app.get(keys.FAILED_WRITE, ()):
                    failed_write(request, exc)
            response = error_response(exc.status, exc.code, exc.message, ctx.request_id,
                                      field=exc.field, headers=exc.headers, errors=exc.errors,
                                      errors_truncated=exc.errors_truncated)
            if exc.closes_connection:
                response.force_close()      # the rest of a slow or broken body is not read
        except web.HTTPException as exc:
            if exc.status < 400:      # redirects and the like go out as aiohttp made them
                status = exc.status
                security_headers.apply(exc)
                raise
            response = _http_error_response(exc, ctx.request_id)
        except Exception:
            # The route template, never request.path: percent-decoded, it could carry CR/LF and
            # write lines of the client's into a text log (and ids or tokens, like the access log).
            log.exception("unhandled error in %s %s (request_id=%s)", request.method, ctx.endpoint, ctx.request_id)
            response = error_response(500, "internal_error", "internal server error", ctx.request_id)
        else:
            if request.method not in _READ_METHODS and response.status < 400:
                for after_write in app.get(keys.AFTER_WRITE, ()):
                    await after_write(request)
            if request.method not in _READ_METHODS:
                # Last, with no await before the write: a bulk's answer is as large as a
                # page (8 MB), and a client that never read it held it unbounded.
                _admit_answer(request, response, "admit_write_answer")
        status = response.status
    finally:
        current_request.reset(token)
        held = request.get(keys.BODY_HELD)
        if held is not None:                  # the body's bytes, counted until now (http/body.py)
            budget = app[keys.BODY_BUDGET]
            for caller, size in held:
                budget.give_back(caller, size)
        if status:
            elapsed = time.perf_counter() - start
            for finished in app.get(keys.REQUEST_FINISHED, ()):
                finished(ctx, request.method, status, elapsed)
    headers = response.headers
    headers["X-Request-ID"] = ctx.request_id
    headers["Server-Timing"] = server_timing(ctx)
    security_headers.apply(response)
    return response


