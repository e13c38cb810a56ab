"""Raw HTTP against the service on a real port, with its own connection handler
(service/http/protocol.py) as `run.py serve` runs it: for requests no client library
sends (bad bytes, bad chunks, pauses between parts) and for reading answers as bytes."""
from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

from aiohttp import web

from service.app import create_app
from service.http import serving
from service.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving_on_a_port(settings: Settings) -> AsyncIterator[tuple[int, web.AppRunner, web.Application]]:
    """(port, runner, app) of the service started as `run.py serve` starts it."""
    app = create_app(settings)
    port = free_port()
    runner = await serving.start(app, settings, host="127.0.0.1", port=port)
    try:
        yield port, runner, app
    finally:
        await runner.cleanup()


async def exchange(host: str, port: int, *parts: bytes, pause: float = 0.3, limit: float = 15.0) -> bytes:
    """Send each part (pausing between them, so a later one arrives after the headers were
    parsed) and read until the server closes."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for index, part in enumerate(parts):
            if index:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        return await asyncio.wait_for(reader.read(), limit)
    finally:
        writer.close()


def answers(raw: bytes) -> list[tuple[int, dict, bytes]]:
    """Every (status, headers, body) in what came back, in order (Content-Length framed)."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        status = int(lines[0].split()[1])
        if status == 100:                  # an interim answer: no body
            raw = rest
            continue
        length = int(headers.get("content-length", len(rest)))
        out.append((status, headers, rest[:length]))
        raw = rest[length:]
    return out


def assert_envelope(status: int, headers: dict, body: bytes, expected: int | None = None) -> dict:
    """The contract's error shape: JSON {"error": {status, code, message}, "request_id"}, X-Request-ID."""
    assert 400 <= status < 500, (status, body[:300])
    if expected is not None:
        assert status == expected, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body[:300])
    payload = json.loads(body)
    assert payload["error"]["status"] == status and payload["error"]["code"] and payload["error"]["message"]
    assert payload["request_id"] == headers["x-request-id"]
    return payload["error"]


def raw_request(method: str, path: str, *, token: str | None = None, headers: dict | None = None,
                body: bytes | None = None) -> bytes:
    """The bytes of one request, closing the connection after it."""
    lines = [f"{method} {path} HTTP/1.1", "Host: x", "Connection: close"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None and "Transfer-Encoding" not in (headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
