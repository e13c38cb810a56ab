"""Request bodies against one greedy or hostile user, on a real `run.py serve`: the bytes
of bodies being read are bounded per caller and in all (service/http/body_budget.py), and
one body cannot hold the event loop by the number of arrays and objects it opens
(service/http/body.py). Each test holds a bound on what the OTHER callers suffer."""
from __future__ import annotations

import asyncio
import io
import socket
import time

import aiohttp
import orjson
import pytest
from jobutil import held_lock, wait_for
from live import rss_of, served
from probe import Probe

MiB = 1024 * 1024
# The worker's response cache may hold CACHE_MAX_BYTES (64 MiB by default); on top of that
# test_memory_bound.py allows 96 MiB of working room. An attack must not push past both.
MEMORY_BOUND = 64 * MiB + 96 * MiB


async def _watch_rss(pid: int, seconds: float, peak: int) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, rss_of(pid))
        await asyncio.sleep(0.1)
    return peak


@pytest.fixture(scope="module")
def live(database_url, tmp_path_factory):
    with served(database_url, tmp_path_factory.mktemp("bodies"), JOBS_WORKER="false") as service:
        yield service


def _stalled_upload(port: int, token: str, size: int, sent: int) -> socket.socket:
    """A POST /api/posts announcing `size` bytes and sending `sent` of them."""
    sock = socket.socket()
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"POST /api/posts HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {token}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode()
                 + b'{"items": ["' + b"a" * (sent - 12))
    return sock


def _assert_refused_but_not_the_other(live, third, other, timeout: float) -> None:
    """`third`, an upload past its user's share, is answered 429 at once; `other`'s upload
    is read and validated (an empty bulk: 422)."""
    third.settimeout(timeout)
    answer = third.recv(65536)
    third.close()
    assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
    assert b"Retry-After: 1" in answer and b'"too_many_requests"' in answer
    status, body = live.call("POST", "/api/posts", other, {"items": []})
    assert status == 422, (status, body)


async def test_uploads_that_stall_cannot_grow_the_worker_without_bound(live):
    """One user starts 48 bulk uploads of 8 MiB, sends all but the last bytes, and waits:
    each body is buffered in full (service/http/body.py read_json) until REQUEST_BODY_TIMEOUT_S."""
    _, _, token = live.user()
    size = 8 * MiB
    pid = live.process.pid
    before = peak = rss_of(pid)
    sockets = []
    almost = b'{"items": ["' + b"a" * (size - 64)
    try:
        for _ in range(48):
            sock = socket.socket()
            sock.connect(("127.0.0.1", live.port))
            sock.sendall(f"POST /api/posts HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {token}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode() + almost)
            sockets.append(sock)
        peak = await _watch_rss(pid, 3.0, peak)
    finally:
        for sock in sockets:
            sock.close()
    grown = peak - before
    print(f"\n48 stalled 8 MiB uploads: worker RSS {before / MiB:.0f} -> {peak / MiB:.0f} MiB")
    assert grown < MEMORY_BOUND, f"the worker grew {grown / MiB:.0f} MiB for 48 uploads of one user"


async def test_a_body_of_millions_of_empty_arrays_does_not_hold_the_event_loop(live):
    """An 8 MiB body `{"items": [[], [], ...]}` (2.8 million containers) is parsed and
    garbage-collected on the event loop before the item count is checked: every other
    request of the worker waits for it."""
    _, _, token = live.user()
    body = b'{"items":[' + b"[]," * ((8 * MiB - 16) // 3) + b"[]]}"
    assert len(body) <= 8 * MiB
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        with Probe(live.port) as probe:
            await asyncio.sleep(0.3)
            async with session.post(f"http://127.0.0.1:{live.port}/api/posts", data=io.BytesIO(body),
                                    headers={"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/json"}) as resp:
                await resp.read()
                status = resp.status
            await asyncio.sleep(0.3)
    print(f"\none 8 MiB body of empty arrays ({status}); liveness: {probe.summary()}")
    assert status == 413
    assert not probe.errors
    assert probe.worst < 400, f"GET /api/health/live waited {probe.worst:.0f} ms behind one request"


async def test_a_users_third_large_body_at_once_is_429_and_another_user_is_not_affected(live):
    """Two stalled 8 MiB uploads take one user's share (16 MiB): the third is refused at once
    with 429 and its connection closed; another user's upload is read and answered."""
    _, _, greedy = live.user()
    _, _, other = live.user()
    stalled = [_stalled_upload(live.port, greedy, 8 * MiB, 8 * MiB - 64) for _ in range(2)]
    try:
        await asyncio.sleep(1.0)                    # both bodies are read up to their stall
        _assert_refused_but_not_the_other(live, _stalled_upload(live.port, greedy, 8 * MiB, 1 * MiB), other, 10)
    finally:
        for sock in stalled:
            sock.close()


async def test_a_body_opening_more_arrays_than_any_request_needs_is_413(live):
    _, _, token = live.user()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{live.port}/api/posts",
                                data=io.BytesIO(b'{"items":[' + b"[]," * 600_000 + b"[]]}"),
                                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as resp:
            status, body = resp.status, await resp.json()
    assert status == 413 and "'[' and '{'" in body["error"]["message"], (status, body)


def _upload(port: int, token: str, body: bytes) -> socket.socket:
    """A POST /api/posts sent whole; its answer is left to read."""
    sock = socket.socket()
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"POST /api/posts HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {token}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock


async def test_parsed_bodies_waiting_for_the_database_count_in_the_callers_share(live, database_url):
    """The share counted a body only while it was read: once parsed its bytes were given back,
    though the request still waited for the database (its caller's DB_USER_CONCURRENCY
    share, then the INSERT). One user's 8 MiB bulks sent one after another, never more than
    two being read at once, were all read, parsed and left waiting: +470 MiB in one worker
    for 60 of them. A body now counts until its request is answered: with the posts table
    locked (every INSERT waits), two bulks wait, the third is 429, another user is served."""
    _, _, greedy = live.user()
    _, _, other = live.user()
    client = live.call("POST", "/api/clients", greedy, {"name": "Bulk"})[1]
    project = live.call("POST", "/api/projects", greedy, {"client_id": client["id"], "name": "P"})[1]
    body = orjson.dumps({"items": [{"project_id": project["id"], "content": "word " * 1580} for _ in range(1000)]})
    assert 7 * MiB < len(body) <= 8 * MiB
    async with held_lock(database_url, "LOCK TABLE posts IN SHARE MODE") as conn:
        waiting = [_upload(live.port, greedy, body) for _ in range(2)]

        async def inserts_waiting() -> bool:
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            return await conn.fetchval("""SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                                          AND query LIKE '%INSERT INTO posts%'""") == 2
        try:
            await wait_for(inserts_waiting, 30, "both bulks to wait for the lock")
            _assert_refused_but_not_the_other(live, _upload(live.port, greedy, body), other, 20)
        except BaseException:
            for sock in waiting:
                sock.close()
            raise
    for sock in waiting:                                         # the lock is gone: both are stored
        sock.settimeout(60)
        assert sock.recv(65536).startswith(b"HTTP/1.1 201")
        sock.close()
