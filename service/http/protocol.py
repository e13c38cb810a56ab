"""The HTTP connection handler: aiohttp's, with a time limit on request headers and
the contract's JSON error envelope for requests its parser refuses.

aiohttp bounds a slow request line and headers only by keepalive_timeout (75 s as
run_app sets it), and answers a malformed request with a plain-text 400 that echoes
the offending bytes (a header with a token in it, for instance) before any
middleware runs. So:

- a new connection must send its first request's line and headers within
  REQUEST_HEADER_TIMEOUT_S of being accepted (the clock starts at connection_made), and a
  later request on a kept-alive connection within REQUEST_HEADER_TIMEOUT_S of its first
  byte; else 408 and the connection is closed. A new connection that sent nothing at all is
  closed without an answer (it asked nothing; an answer could be taken for the reply to a
  request crossing it), like nginx and Apache. Idle keep-alive connections BETWEEN requests
  keep aiohttp's keepalive_timeout: they have spoken HTTP already, clients reuse them, and
  the cap below bounds how many one address holds;
- one client address (IPv6: its /64) holds at most MAX_CONNECTIONS_PER_ADDRESS open
  connections per process; one more is answered a fixed 503 `too_many_connections` and
  closed at once, before any byte of it is read. Other addresses are never affected;
- every error the handler produces itself (parser errors, that 408, the rare 500
  outside the app) is `{"error": {...}, "request_id": ...}` with an X-Request-ID
  header and nothing of the request echoed;
- a body the parser refuses after its headers (a malformed chunk in a later packet)
  fails the handler's read at once: aiohttp's C parser drops that payload without an
  error and queues its 400 behind the running handler, which would otherwise wait
  REQUEST_BODY_TIMEOUT_S and answer 408;
- an answer the client stops accepting is cut: once a response fills the write buffer
  (aiohttp's handler then waits in drain()), the connection is aborted, its unsent
  bytes freed, when not one byte has left for RESPONSE_SEND_TIMEOUT_S. Progress counts
  the kernel's send queue too (Linux SIOCOUTQ): it takes megabytes before the process's
  buffer shrinks, so a slow reader who keeps reading is never cut;
- while such an answer waits, its bytes count against its caller and the process
  (unsent_answers.py): the middleware asks admit_answer before a large answer is written,
  and this handler reports when its transport pauses and resumes.

This relies on aiohttp internals (RequestHandler._waiter, _messages, _current_request,
_ErrInfo and handle_error's contract, AppRunner._make_server), pinned by requirements.txt
and proven by tests/integration/test_slow_clients.py and test_adversarial_protocol.py.
"""
from __future__ import annotations

import asyncio
import email.utils
import fcntl
import itertools
import logging
import struct
import termios
import uuid
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError, TransferEncodingError
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader

from service import keys
from service.context import RequestContext
from service.http import security_headers
from service.http.body import UNSUPPORTED_CODING
from service.http.callers import address_of
from service.http.middleware import RequestFinished, refusing_unknown_expectations
from service.http.responses import PRIVATE_NO_CACHE
from service.http.unsent_answers import UnsentAnswers
from service.jsonutil import dumps

log = logging.getLogger("service.http.protocol")

_ID_PREFIX = "conn-" + uuid.uuid4().hex[:8]
_ids = itertools.count(1)
# How often one address's refusals are logged (a flood would write a line per connection).
_REFUSAL_LOG_EVERY_S = 60.0
_CODES = {400: "bad_request", 408: "request_timeout", 413: "payload_too_large", 415: "unsupported_media_type",
          431: "headers_too_large", 500: "internal_error", 504: "gateway_timeout"}
_MESSAGES = {400: "malformed HTTP request", 408: "the request headers did not arrive in time",
             415: UNSUPPORTED_CODING, 500: "internal server error"}


class HeaderTimeout(BadHttpMessage):
    code = 408


# The checks of a stalled answer per RESPONSE_SEND_TIMEOUT_S: it is cut between 1 and
# 1 + 1/_SEND_CHECKS times the limit after its last byte left.
_SEND_CHECKS = 4


def address_key(peer: object) -> str | None:
    """What the per-address cap counts: the peer's address as every per-address bound counts
    it (callers.address_of: an IPv6 peer's /64). None for a peer without an address (a Unix
    socket): not capped."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str) or not peer[0]:
        return None
    return address_of(peer[0])


def _too_many_connections() -> bytes:
    """The whole answer to a connection over the cap: the contract's envelope and the
    security headers (security_headers.py), written raw (no request was read)."""
    request_id = f"{_ID_PREFIX}-{next(_ids):x}"
    body = dumps({"error": {"status": 503, "code": "too_many_connections",
                            "message": "too many open connections from this address"},
                  "request_id": request_id})
    head = ("HTTP/1.1 503 Service Unavailable\r\n"
            f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
            f"Server: {security_headers.SERVER}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n"
            "Retry-After: 1\r\n"
            f"Cache-Control: {PRIVATE_NO_CACHE}\r\n"
            f"X-Request-ID: {request_id}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in security_headers._ALWAYS)
            + f"Content-Security-Policy: {security_headers.API_CSP}\r\n\r\n")
    return head.encode("latin-1") + body


def _kernel_queue(transport: asyncio.BaseTransport) -> int:
    """Bytes the kernel holds for the peer, not yet acknowledged (Linux SIOCOUTQ); 0 if unknown."""
    sock = transport.get_extra_info("socket")
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (AttributeError, OSError, ValueError):
        return 0


class GuardedRequestHandler(web.RequestHandler):
    def __init__(self, manager: web.Server, *, header_timeout_s: float, send_timeout_s: float,
                 **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.send_timeout_s = send_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None
        # The send watch: the transport (force_close forgets self.transport while it still
        # flushes), the bytes unsent at the last check, and checks since they last changed.
        self._send_timer: asyncio.TimerHandle | None = None
        self._send_transport: asyncio.Transport | None = None
        self._send_pending = 0
        self._send_stalled = 0
        # The per-address cap: the key this connection is counted under (None: not counted),
        # whether it was refused, and whether any byte has come (the first request's clock).
        self._server: GuardedServer = manager           # type: ignore[assignment]
        self._address: str | None = None
        self._refused = False
        self._silent = True
        # Whose large answer this connection last admitted (admit_answer), and the caller its
        # paused buffer is counted under in the server's UnsentAnswers (None: not counted).
        self._answer_caller: str | None = None
        self._paused_for: str | None = None
        # The bytes of the write's answer it admitted, held whole until they are all taken.
        self._answer_held = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._server
        cap = server.max_connections_per_address
        if cap:
            key = address_key(transport.get_extra_info("peername"))
            if key is not None:
                held = server.connections_per_address.get(key, 0)
                if held >= cap:
                    self._refuse(transport, key)
                    return
                server.connections_per_address[key] = held + 1
                self._address = key
        super().connection_made(transport)
        # The first request's clock starts now, not at its first byte: a connection that
        # sends nothing holds a descriptor for REQUEST_HEADER_TIMEOUT_S, not keepalive_timeout.
        self._header_timer = self._loop.call_later(self.header_timeout_s, self._on_header_timeout)

    def _refuse(self, transport: asyncio.BaseTransport, key: str) -> None:
        """Over the cap: a fixed 503, then closed (the write fits the socket buffer of a new
        connection, so close() frees the descriptor at once). aiohttp never sees it."""
        self._refused = True
        self._force_close = True                  # data_received ignores anything that comes
        server = self._server
        now = self._loop.time()
        logged = server.refusals_logged.get(key)
        if logged is None or now - logged[0] >= _REFUSAL_LOG_EVERY_S:
            log.warning("refused a connection from %s: it holds %d open connections, the most one address "
                        "may (MAX_CONNECTIONS_PER_ADDRESS)%s", key, server.max_connections_per_address,
                        f"; {logged[1]} more refused since the last line" if logged and logged[1] else "")
            server.refusals_logged[key] = [now, 0]
        else:
            logged[1] += 1
        try:
            transport.write(_too_many_connections())  # type: ignore[attr-defined]
        finally:
            transport.close()

    def data_received(self, data: bytes) -> None:
        self._silent = False
        queued = len(self._messages)
        super().data_received(data)
        if len(self._messages) > queued and isinstance(self._messages[-1][0], web_protocol._ErrInfo):
            self._fail_dropped_payload(queued)
        # Idle: start() waits for the next request, or has not run yet (no request so far).
        idle = (self._waiter is not None and not self._waiter.done()) or self._request_count == 0
        if idle and not self._messages and not self._force_close and not self._close:
            # Bytes of a request have come, not all of its headers: the clock starts once
            # (for the first request it has run since connection_made).
            if self._header_timer is None and data:
                self._header_timer = self._loop.call_later(self.header_timeout_s, self._on_header_timeout)
        elif self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _fail_dropped_payload(self, queued: int) -> None:
        """The parser refused bytes: fail the body it was reading, which it dropped unfinished.

        That body is the last request queued before the error, else the running handler's:
        the parser reads one body to its end before the next request, so an unfinished one
        is the body the error came in. Its reader then raises RequestPayloadError (read_json:
        400 bad_request, connection closed) instead of waiting for bytes that will never be
        fed to it. Marked finished as well, so aiohttp does not linger reading it after the
        answer (the read would raise and be logged as unhandled)."""
        err = self._messages[-1][0]
        message, payload = next(((m, p) for m, p in reversed(list(self._messages)[:queued])
                                 if not isinstance(m, web_protocol._ErrInfo)), (None, None))
        if message is None and self._current_request is not None:
            message, payload = self._current_request._message, self._current_request.content
        if not isinstance(payload, StreamReader) or payload.is_eof() or payload.exception() is not None:
            return
        cause: BaseException = err.exc
        if getattr(message, "chunked", False):
            # What aiohttp's pure-Python parser raises for the same bytes; the C parser's
            # BadHttpMessage quotes them. Neither text reaches the client or the log.
            cause = TransferEncodingError("malformed chunked body")
            cause.__cause__ = err.exc
        exc = web_protocol.RequestPayloadError("the request body is malformed")
        exc.__cause__ = cause                 # StreamReader sets it only when a read is waiting
        payload.set_exception(exc, cause)
        payload.feed_eof()

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._messages or self.transport is None:
            return
        if self._silent:
            # Not one byte since it was accepted: nothing was asked, so nothing is answered.
            log.debug("closed a connection that sent nothing for %g s", self.header_timeout_s)
            self.force_close()
            return
        exc = HeaderTimeout("request header timeout")
        self._messages.append((web_protocol._ErrInfo(status=408, exc=exc, message=exc.message), EMPTY_PAYLOAD))
        self._request_count += 1
        waiter.set_result(None)      # first: close() would cancel the waiter
        self.close()

    def admit_answer(self, caller: str, size: int) -> None:
        """Before a large answer is written: raise 429/503 (unsent_answers.py) if it would put
        its caller or the process over their share of unsent bytes; else count this
        connection's buffer under the caller whenever it pauses."""
        self._server.unsent_answers.admit(caller, size)
        self._answer_caller = caller
        self._answer_held = 0

    def admit_write_answer(self, caller: str, size: int) -> None:
        """Before a large answer to a write is written: never refused (it committed); the
        caller's own stalled answers, then the largest holders', are aborted to keep the
        shares (unsent_answers.py); this connection's buffer counts under the caller."""
        self._server.unsent_answers.admit_write(caller, size)
        self._answer_caller = caller
        self._answer_held = size

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._answer_caller is not None and self.transport is not None:
            self._paused_for = self._answer_caller
            self._server.unsent_answers.paused(self._paused_for, self, self.transport, self._answer_held)
        # Over the transport's high-water mark: aiohttp's writer waits in drain() from now on.
        if self._send_timer is None and self.transport is not None:
            self._send_transport = self.transport
            self._send_pending = self._unsent(self.transport)
            self._send_stalled = 0
            self._send_timer = self._loop.call_later(self.send_timeout_s / _SEND_CHECKS, self._check_send)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._not_counted()
        self._answer_held = 0           # a write's answer leaves the buffer in one piece

    def _not_counted(self) -> None:
        if self._paused_for is not None:
            self._server.unsent_answers.resumed(self._paused_for, self)
            self._paused_for = None

    @staticmethod
    def _unsent(transport: asyncio.Transport) -> int:
        return transport.get_write_buffer_size() + _kernel_queue(transport)

    def _check_send(self) -> None:
        """Every limit/_SEND_CHECKS while the write buffer holds bytes: abort the connection
        when the bytes unsent have not changed for _SEND_CHECKS checks in a row."""
        self._send_timer = None
        transport = self._send_transport
        if transport is None or transport.get_write_buffer_size() == 0:
            self._send_transport = None       # drained: the next pause_writing watches again
            return
        pending = self._unsent(transport)
        # Fewer: the client took bytes. More: the handler wrote (it was not blocked).
        self._send_stalled = 0 if pending != self._send_pending else self._send_stalled + 1
        self._send_pending = pending
        if self._send_stalled < _SEND_CHECKS:
            self._send_timer = self._loop.call_later(self.send_timeout_s / _SEND_CHECKS, self._check_send)
            return
        self._send_transport = None
        # Where, and how much: never what was asked (the path or headers are request bytes).
        peer = transport.get_extra_info("peername")
        log.info("aborted the connection of %s: no progress sending its answer for %g s (%d bytes unsent)",
                 peer[0] if isinstance(peer, tuple) else peer, self.send_timeout_s, pending)
        transport.abort()                     # drops the buffer; connection_lost follows

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            self.transport = None
            return                                # never counted, never given to aiohttp
        key, self._address = self._address, None
        if key is not None:
            per_address = self._server.connections_per_address
            held = per_address.get(key, 1) - 1
            if held > 0:
                per_address[key] = held
            else:
                del per_address[key]
                self._server.refusals_logged.pop(key, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        self._send_transport = None
        self._not_counted()
        super().connection_lost(exc)

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """aiohttp reads and drops the body a handler left unread once the answer is out; when
        that body breaks there (a gzip or deflate body that does not decode, sent to a route
        that answered without reading it: a GET, a 401, a 405) it logs "Unhandled exception"
        at ERROR with a traceback, and closes the connection. The client's doing, answered
        already: one INFO line, never its bytes. Anything else stays an error."""
        exc = kwargs.get("exc_info")
        if isinstance(exc, web_protocol.RequestPayloadError):
            peer = self.transport.get_extra_info("peername") if self.transport is not None else None
            log.info("dropped the unread body of a request from %s: it could not be read (%s)",
                     peer[0] if isinstance(peer, tuple) else peer, type(exc.__cause__ or exc).__name__)
            return
        super().log_exception(*args, **kwargs)

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        request_id = f"{_ID_PREFIX}-{next(_ids):x}"
        field = None
        if isinstance(exc, ContentEncodingError):
            # A coding the parser cannot decode (br or zstd without its library installed): it
            # refuses the request before any handler. Not a malformed request: the 415 read_json
            # answers for the codings the parser passes through (http/body.py), naming the header.
            status, field = 415, "Content-Encoding"
        # The reason, never the bytes: aiohttp's message quotes the offending input.
        log.info("refused a request from %s: %s %s (request_id=%s)", request.remote, status,
                 type(exc).__name__ if exc else "", request_id)
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        text = _MESSAGES.get(status) or HTTPStatus(status).phrase.lower()
        error = {"status": status, "code": _CODES.get(status, "http_error"), "message": text}
        if field is not None:
            error["field"] = field
        body = {"error": error, "request_id": request_id}
        response = web.Response(status=status, body=dumps(body), content_type="application/json",
                                headers={"X-Request-ID": request_id, "Cache-Control": PRIVATE_NO_CACHE})
        security_headers.apply(response)      # every response, the parser's refusals too
        response.force_close()
        # Counted like every answered request (cj_http_requests_total, the access log): a flood of
        # malformed or slow requests must show there, not only in this logger's lines. No route
        # was matched; a request the parser refused has the method UNKNOWN (metrics: OTHER); no
        # time was spent serving it.
        ctx = RequestContext(request_id=request_id, endpoint="unmatched", method=request.method)
        for finished in self._manager.request_finished:       # type: ignore[union-attr]
            finished(ctx, request.method, status, 0.0)
        return response


class GuardedServer(web.Server):
    header_timeout_s: float = 10.0
    send_timeout_s: float = 30.0
    max_connections_per_address: int = 256        # 0: no cap

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Open connections per address key (address_key), this process only; the keys of
        # addresses refused lately -> [when last logged, refusals since].
        self.connections_per_address: dict[str, int] = {}
        self.refusals_logged: dict[str, list] = {}
        self.unsent_answers = UnsentAnswers()
        # The app's REQUEST_FINISHED hooks (metrics, access log), for the answers handle_error writes.
        self.request_finished: Sequence[RequestFinished] = ()

    def __call__(self) -> web.RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, header_timeout_s=self.header_timeout_s,
                                     send_timeout_s=self.send_timeout_s, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose connections use GuardedRequestHandler."""

    def __init__(self, app: web.Application, *, header_timeout_s: float, send_timeout_s: float,
                 max_connections_per_address: int = 256, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.send_timeout_s = send_timeout_s
        self.max_connections_per_address = max_connections_per_address

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        finished = self._app.get(keys.REQUEST_FINISHED, ())
        guarded = GuardedServer(refusing_unknown_expectations(server.request_handler, finished),
                                request_factory=server.request_factory,
                                handler_cancellation=server.handler_cancellation, loop=server._loop,
                                **server._kwargs)
        guarded.header_timeout_s = self.header_timeout_s
        guarded.send_timeout_s = self.send_timeout_s
        guarded.max_connections_per_address = self.max_connections_per_address
        guarded.request_finished = finished
        return guarded
