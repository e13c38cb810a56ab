"""Every header the service reads, with bytes no client library would send (issue 15
point 3): invalid UTF-8, an overlong sequence, a lone continuation byte, a long value.
Sent on raw sockets to the routes that read each header; the answer is never a 500, and
every error is the contract's JSON envelope. (Authorization has its own test in
test_errors.py; the generated requests of test_no_500_property.py stay within what a
client library encodes.)"""
from __future__ import annotations

import asyncio
import json

import pytest

BAD = [b"\xff\xfe", b"t\xc3\x28k", b"\xc0\xaf", b"\x80", b"\xe2\x80\x8b", b"x" * 6000, b'"\xff", W/"\xfe"']


async def _raw(api, request: bytes) -> tuple[int, bytes, bytes]:
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


def _request(method: str, path: str, token: str | None, header: bytes, value: bytes, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: x", b"Connection: close", header + b": " + value]
    if token:
        lines.append(f"Authorization: Bearer {token}".encode())
    if body:
        if header.lower() != b"content-type":
            lines.append(b"Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.parametrize("value", BAD)
async def test_headers_the_service_reads_never_answer_500(api, value):
    user = await api.user()
    project = await api.project_of(user)
    job = await api.post(f"/api/projects/{project['id']}/exports", user, expect=202, json={})
    login = json.dumps({"email": user.email, "password": "password-123"}).encode()
    cases = [
        (b"X-Request-ID", "GET", "/api/posts", user.token, b""),
        (b"X-Request-ID", "GET", "/api/health/live", None, b""),
        (b"If-None-Match", "GET", "/api/posts", user.token, b""),
        (b"If-None-Match", "GET", f"/api/jobs/{job['id']}/result", user.token, b""),
        (b"If-None-Match", "GET", "/api/health/dashboard", None, b""),
        (b"Idempotency-Key", "POST", f"/api/projects/{project['id']}/exports", user.token, b"{}"),
        (b"Content-Type", "POST", "/api/auth/login", None, login),
        (b"Content-Type", "POST", "/api/clients", user.token, b'{"name": "x"}'),
        (b"Accept", "GET", "/api/posts", user.token, b""),
        (b"Accept-Encoding", "GET", "/api/posts", user.token, b""),
        (b"Cookie", "GET", "/api/auth/me", user.token, b""),
    ]
    for header, method, path, token, body in cases:
        status, head, answer = await _raw(api, _request(method, path, token, header, value, body))
        assert status < 500, (header, path, value[:20], status, answer[:300])
        if status >= 400:
            error = json.loads(answer)["error"]
            assert error["status"] == status and b"X-Request-ID" in head, (header, path, answer[:300])
            assert value not in answer or len(value) < 3          # nothing raw echoed back
