"""Slow and malformed clients, on the real connection handler (service/http/protocol.py):
headers and bodies have time limits, a slow client holds no pool connection, and the
parser's refusals answer in the contract's JSON envelope without echoing the request."""
from __future__ import annotations

import asyncio
import json

import pytest
from rawhttp import serving_on_a_port

from service import keys


@pytest.fixture
async def served(settings):
    """The service on a real port, with 1 s limits for headers and bodies: (port, app)."""
    async with serving_on_a_port(settings.replace(request_header_timeout_s=1.0, request_body_timeout_s=1.0)) as (port, runner, app):
        yield port, app


async def _read_answer(reader: asyncio.StreamReader, limit_s: float = 10.0) -> tuple[int, dict, dict]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), limit_s)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), limit_s)
    return int(lines[0].split()[1]), headers, json.loads(body) if body else {}


async def _closed(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 10) == b""


async def test_headers_trickling_in_get_408_and_a_closed_connection(served):
    port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def trickle():
        for byte in request:                      # would take 60 s at this pace
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.3)
    sender = asyncio.create_task(trickle())
    try:
        status, headers, body = await _read_answer(reader)
    finally:
        sender.cancel()
    assert status == 408 and body["error"]["code"] == "request_timeout"
    assert headers["x-request-id"] == body["request_id"]
    assert loop.time() - started < 10           # the limit is 1 s; generous for a busy machine
    assert await _closed(reader)
    writer.close()


async def test_a_body_trickling_in_gets_408_and_holds_no_pool_connection(served, api):
    port, app = served
    user = await api.user()                        # a user of the same database
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /api/clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + user.token.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"na")
    await writer.drain()
    await asyncio.sleep(0.5)
    assert app[keys.DB].pool.state()["in_use"] == 0      # waiting for the body, no connection taken
    status, _, body = await _read_answer(reader)
    assert status == 408 and body["error"]["code"] == "request_timeout"
    assert await _closed(reader)
    writer.close()


async def test_an_idle_keep_alive_connection_is_not_cut_by_the_header_limit(served):
    port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /api/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    writer.write(request)
    assert (await _read_answer(reader))[0] == 200
    await asyncio.sleep(1.5)                       # idle longer than the header limit
    writer.write(request)
    assert (await _read_answer(reader))[0] == 200
    writer.close()


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sec\x00ret-token\r\n\r\n",
    b"GET /api/auth/me HTTP/1.1\r\nBad Header<secret-token>: v\r\n\r\n",
    b"GET /" + b"secret-token" * 1000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/clients HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz-secret-token\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03secret-token",
])
async def test_requests_the_parser_refuses_answer_json_and_echo_nothing(served, raw):
    port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    status, headers, body = await _read_answer(reader)
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert body["error"] == {"status": 400, "code": "bad_request", "message": "malformed HTTP request"}
    assert headers["x-request-id"] == body["request_id"]
    assert b"secret" not in json.dumps(body).encode()
    writer.close()
