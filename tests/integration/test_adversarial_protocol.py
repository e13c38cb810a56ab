"""Adversarial clients at the connection level, on the real connection handler
(service/http/protocol.py), as `run.py serve` runs it:

- a malformed chunk that arrives after the headers, while the handler already reads the
  body, is a 400 `bad_request` at once, not a wait for REQUEST_BODY_TIMEOUT_S;
- a client that stops accepting its answer is cut after RESPONSE_SEND_TIMEOUT_S without
  progress, and the unsent megabytes are freed; a slow client that keeps reading is not cut.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import pytest
from rawhttp import answers, assert_envelope, exchange, raw_request, serving_on_a_port

SEND_TIMEOUT_S = 3.0




@pytest.fixture
async def served(settings):
    """The service on a real port, with 5 s header and body limits and a 3 s send limit: (port, runner)."""
    async with serving_on_a_port(settings.replace(request_header_timeout_s=5.0, request_body_timeout_s=5.0,
                                                  response_send_timeout_s=SEND_TIMEOUT_S)) as (port, runner, app):
        yield port, runner










def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- a malformed chunk after the headers ---------------------------------------------------

async def test_a_malformed_chunk_after_the_headers_is_400_at_once_not_a_wait_for_the_body_timeout(
        served, api, caplog):
    """README Limits: a bad chunk is 400 bad_request. When the bad chunk arrives after the
    headers (not in the same packet, which test_slow_clients.py covers), aiohttp's C parser
    drops the request's payload without an error and queues its own 400 behind the running
    handler: without protocol.py's hand-over the handler waits REQUEST_BODY_TIMEOUT_S (5 s
    here) and answers 408."""
    port, _ = served
    user = await api.user()
    caplog.set_level(logging.INFO)
    head = raw_request("POST", "/api/clients", token=user.token,
                    headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    for bad in (b'5\r\n{"nam\r\nzz-not-hex\r\n', b"ffffffffffffffffffffffffffff\r\n{}\r\n"):
        started = time.monotonic()
        replies = answers(await exchange("127.0.0.1", port, head, bad))
        elapsed = time.monotonic() - started
        status, headers, body = replies[0]
        error = assert_envelope(status, headers, body)
        assert status == 400 and error["code"] == "bad_request", (bad, status, error, f"{elapsed:.1f} s")
        assert elapsed < 3.0, f"answered after {elapsed:.1f} s: the bad chunk was not noticed"
        assert len(replies) == 1, [a[0] for a in replies]          # one answer, then the connection closes
        assert b"zz-not-hex" not in body and b"ffff" not in body
    assert not _errors(caplog), _errors(caplog)
    # The service still answers on a new connection.
    assert answers(await exchange("127.0.0.1", port, raw_request("GET", "/api/health/live")))[0][0] == 200


# -- answers the client does not take ------------------------------------------------------

async def _big_page(api) -> str:
    """A user with 63 posts of ~100 KB: `GET /api/posts?page_size=100` is a ~6.3 MB answer,
    more than the kernel's socket buffers take. Returns the user's token."""
    user = await api.user()
    project = await api.project_of(user)
    for _ in range(7):
        await api.post("/api/posts", user, json={"items": [{"project_id": project["id"], "content": "w " * 50000}
                                                          for _ in range(9)]})
    return user.token


async def _connect_small(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client whose kernel receive buffer is small, so what it does not read stays on the server."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return await asyncio.open_connection(sock=sock, limit=16 * 1024)


def _buffered(runner) -> int:
    return sum(c.transport.get_write_buffer_size() for c in runner.server.connections if c.transport)


async def test_a_client_that_never_reads_its_answer_is_not_held_for_ever(served, api, caplog):
    """Slowloris in reverse: request a large answer and read none of it. Without a send limit
    the handler waits in drain() and the unsent megabytes stay in the process for as long as
    the client keeps the socket open, so N such connections of one user hold N x the page."""
    port, runner = served
    token = await _big_page(api)
    caplog.set_level(logging.INFO, logger="service.http.protocol")
    reader, writer = await _connect_small(port)
    try:
        writer.write(f"GET /api/posts?page_size=100 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
                     .encode())
        await writer.drain()
        deadline = time.monotonic() + 20
        while _buffered(runner) < 1024 * 1024:        # the answer is built and waits for the client
            assert time.monotonic() < deadline, "the answer never filled the send buffer"
            await asyncio.sleep(0.1)
        started = time.monotonic()
        while runner.server.connections and time.monotonic() - started < SEND_TIMEOUT_S * 2.5:
            await asyncio.sleep(0.1)                  # cut within 1.25 x the limit; margin for a busy machine
        held = time.monotonic() - started
        assert held > SEND_TIMEOUT_S * 0.9, f"cut after {held:.1f} s, before the {SEND_TIMEOUT_S:g} s limit"
        buffered = _buffered(runner)
        assert buffered < 256 * 1024, f"{buffered / 1e6:.1f} MB still buffered for a client that reads nothing"
        assert not runner.server.connections, f"the connection is still held after {held:.1f} s"
        print(f"cut {held:.1f} s after the answer filled the buffer (limit {SEND_TIMEOUT_S:g} s)")
        cut = [r for r in caplog.records if r.name == "service.http.protocol" and "no progress" in r.getMessage()]
        assert len(cut) == 1 and cut[0].levelno == logging.INFO, [r.getMessage() for r in caplog.records]
        assert token not in cut[0].getMessage() and "/api/posts" not in cut[0].getMessage()
        assert not _errors(caplog), _errors(caplog)
        # The client sees its answer cut short: a reset, or the end before Content-Length.
        try:
            received = await asyncio.wait_for(reader.read(), 10)
        except ConnectionResetError:
            received = b""
        assert len(received) < 6_000_000
    finally:
        writer.close()
    assert (await api.get("/api/health/live")) is not None


async def test_a_slow_client_that_keeps_reading_its_answer_is_not_cut(served, api, caplog):
    """The send limit is about progress, not speed: a client reading 64 KB/s, far longer
    than RESPONSE_SEND_TIMEOUT_S, gets its whole answer. (Its progress shows in the kernel's
    send queue long before aiohttp's own write buffer shrinks: the kernel takes megabytes.)"""
    port, runner = served
    token = await _big_page(api)
    caplog.set_level(logging.INFO, logger="service.http.protocol")
    reader, writer = await _connect_small(port)
    try:
        writer.write(f"GET /api/posts?page_size=100 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                     "Connection: close\r\n\r\n".encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        assert length > 6_000_000
        body = bytearray()
        slow_until = time.monotonic() + SEND_TIMEOUT_S * 4
        while time.monotonic() < slow_until:            # 16 KB every 0.25 s: 64 KB/s
            body += await asyncio.wait_for(reader.readexactly(16 * 1024), 10)
            await asyncio.sleep(0.25)
        cut = [r.getMessage() for r in caplog.records if "no progress" in r.getMessage()]
        assert not cut and runner.server.connections, f"a reader of {len(body)} bytes was cut: {cut}"
        assert _buffered(runner) > 1024 * 1024, "the slow phase must run with megabytes still unsent"
        body += await asyncio.wait_for(reader.readexactly(length - len(body)), 30)
        assert len(json.loads(body)["items"]) == 63
    finally:
        writer.close()
