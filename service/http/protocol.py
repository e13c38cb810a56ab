"""The HTTP connection handler: aiohttp's, with a time limit on request headers and
the contract's JSON error envelope for requests its parser refuses.

aiohttp bounds a slow request line and headers only by keepalive_timeout (75 s as
run_app sets it), and answers a malformed request with a plain-text 400 that echoes
the offending bytes (a header with a token in it, for instance) before any
middleware runs. So:

- a connection that has started a request must complete its headers within
  REQUEST_HEADER_TIMEOUT_S, else it gets 408 and is closed (idle keep-alive
  connections are not affected);
- every error the handler produces itself (parser errors, that 408, the rare 500
  outside the app) is `{"error": {...}, "request_id": ...}` with an X-Request-ID
  header and nothing of the request echoed.

This relies on aiohttp internals (RequestHandler._waiter, _messages, _ErrInfo and
handle_error's contract, AppRunner._make_server), pinned by requirements.txt and
proven by tests/integration/test_slow_clients.py.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from http import HTTPStatus
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.streams import EMPTY_PAYLOAD

from service.jsonutil import dumps

log = logging.getLogger("service.http.protocol")

_ID_PREFIX = "conn-" + uuid.uuid4().hex[:8]
_ids = itertools.count(1)
_CODES = {400: "bad_request", 408: "request_timeout", 413: "payload_too_large", 431: "headers_too_large",
          500: "internal_error", 504: "gateway_timeout"}
_MESSAGES = {400: "malformed HTTP request", 408: "the request headers did not arrive in time",
             500: "internal server error"}


class HeaderTimeout(BadHttpMessage):
    code = 408


class GuardedRequestHandler(web.RequestHandler):
    def __init__(self, manager: web.Server, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        waiting_for_request = (self._waiter is not None and not self._waiter.done() and not self._messages
                               and not self._force_close and not self._close)
        if waiting_for_request:
            # Bytes of a request have come, not all of its headers: the clock starts once.
            if self._header_timer is None and data:
                self._header_timer = self._loop.call_later(self.header_timeout_s, self._on_header_timeout)
        elif self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._messages or self.transport is None:
            return
        exc = HeaderTimeout("request header timeout")
        self._messages.append((web_protocol._ErrInfo(status=408, exc=exc, message=exc.message), EMPTY_PAYLOAD))
        self._request_count += 1
        waiter.set_result(None)      # first: close() would cancel the waiter
        self.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        request_id = f"{_ID_PREFIX}-{next(_ids):x}"
        # The reason, never the bytes: aiohttp's message quotes the offending input.
        log.info("refused a request from %s: %s %s (request_id=%s)", request.remote, status,
                 type(exc).__name__ if exc else "", request_id)
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        text = _MESSAGES.get(status) or HTTPStatus(status).phrase.lower()
        body = {"error": {"status": status, "code": _CODES.get(status, "http_error"), "message": text},
                "request_id": request_id}
        response = web.Response(status=status, body=dumps(body), content_type="application/json",
                                headers={"X-Request-ID": request_id, "X-Content-Type-Options": "nosniff"})
        response.force_close()
        return response


class GuardedServer(web.Server):
    header_timeout_s: float = 10.0

    def __call__(self) -> web.RequestHandler:
        return GuardedRequestHandler(self, loop=self._loop, header_timeout_s=self.header_timeout_s, **self._kwargs)


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose connections use GuardedRequestHandler."""

    def __init__(self, app: web.Application, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        guarded = GuardedServer(server.request_handler, request_factory=server.request_factory,
                                handler_cancellation=server.handler_cancellation, loop=server._loop,
                                **server._kwargs)
        guarded.header_timeout_s = self.header_timeout_s
        return guarded
