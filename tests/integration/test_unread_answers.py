"""Answers one user asks for and does not read, on a real `run.py serve`: the bytes the
worker holds unsent, and the streamed downloads at once, are bounded per caller and in
all (service/http/unsent_answers.py).
Until RESPONSE_SEND_TIMEOUT_S cuts a stalled connection, its whole answer waits in the
worker's write buffer; before the bound, 40 connections of one user asking for the same
10 MB page and reading nothing grew the worker by 374 MiB."""
from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import asyncpg
import pytest
from live import rss_of, served

MiB = 1024 * 1024
CONNECTIONS = 40


@pytest.fixture(scope="module")
def live(database_url, tmp_path_factory):
    with served(database_url, tmp_path_factory.mktemp("unread"), RESPONSE_SEND_TIMEOUT_S="120") as service:
        yield service


async def _heavy_project(live, database_url: str, token: str) -> str:
    """A project of 100 posts of 100,000 characters: page_size=100 is a 10 MB answer."""
    client = live.call("POST", "/api/clients", token, {"name": "Heavy"})[1]
    project = live.call("POST", "/api/projects", token, {"client_id": client["id"], "name": "P"})[1]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("""
            INSERT INTO posts (owner_id, project_id, content, word_count)
            SELECT owner_id, id, $2, 20000 FROM projects, generate_series(1, 100) WHERE id = $1::uuid""",
                           project["id"], "word " * 19_999 + "end")
    finally:
        await conn.close()
    return project["id"]


def _ask_and_stall(port: int, token: str, path: str) -> socket.socket:
    """A GET whose answer is never read (a small receive buffer, so the kernel takes little of it)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    return sock


def _status_line(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    return sock.recv(16)


async def _read_page(port: int, token: str, path: str) -> tuple[int, int]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.get(f"http://127.0.0.1:{port}{path}",
                               headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status, len(await resp.read())


async def _stall_many(live, token: str, path: str, meanwhile):
    """CONNECTIONS requests for `path` whose answers are not read; then `meanwhile()` (another
    user's request) while they wait. (first bytes of each answer, worker RSS before, its peak,
    what meanwhile answered)."""
    pid = live.process.pid
    before = peak = rss_of(pid)
    sockets = []
    try:
        for _ in range(CONNECTIONS):
            sockets.append(_ask_and_stall(live.port, token, path))
            await asyncio.sleep(0.05)
            peak = max(peak, rss_of(pid))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            peak = max(peak, rss_of(pid))
            await asyncio.sleep(0.1)
        answer = await meanwhile()
        return [_status_line(sock) for sock in sockets], before, peak, answer
    finally:
        for sock in sockets:
            sock.close()


async def test_one_users_unread_answers_are_bounded_and_another_user_is_served(live, database_url):
    _, _, greedy = live.user()
    _, _, other = live.user()
    path = f"/api/posts?page_size=100&project_id={await _heavy_project(live, database_url, greedy)}"
    other_path = f"/api/posts?page_size=100&project_id={await _heavy_project(live, database_url, other)}"
    status, size = await _read_page(live.port, greedy, path)      # read whole: cached from now on
    assert status == 200 and size > 9 * MiB
    firsts, before, peak, other_answer = await _stall_many(
        live, greedy, path, lambda: _read_page(live.port, other, other_path))
    # Another user's own 10 MB page is answered whole meanwhile.
    assert other_answer == (200, size)
    refused = [line for line in firsts if line.startswith(b"HTTP/1.1 429")]
    served_ = [line for line in firsts if line.startswith(b"HTTP/1.1 200")]
    grown = peak - before
    print(f"\n{CONNECTIONS} unread 10 MB answers of one user: {len(served_)} sent, {len(refused)} refused;"
          f" worker RSS {before / MiB:.0f} -> {peak / MiB:.0f} MiB (+{grown / MiB:.0f})")
    assert len(served_) + len(refused) == CONNECTIONS, firsts
    assert 1 <= len(served_) <= 5 and refused, firsts
    assert grown < 96 * MiB, f"the worker grew {grown / MiB:.0f} MiB for one user's unread answers"
    # Closed: the user's share is free again.
    await asyncio.sleep(0.5)
    assert await _read_page(live.port, greedy, path) == (200, size)


async def test_a_refused_answer_says_why_and_when_to_retry(live, database_url):
    _, _, greedy = live.user()
    path = f"/api/posts?page_size=100&project_id={await _heavy_project(live, database_url, greedy)}"
    sockets = [_ask_and_stall(live.port, greedy, path) for _ in range(8)]
    try:
        await asyncio.sleep(1.0)
        extra = _ask_and_stall(live.port, greedy, path)
        extra.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sockets.append(extra)
        extra.settimeout(10)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += extra.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429"), head
        assert b"Retry-After: 1" in head and b"X-Request-ID" in head
        assert b'"too_many_requests"' in body and b"unread" in body
    finally:
        for sock in sockets:
            sock.close()


async def _exported(live, token: str, project_id: str) -> str:
    """The id of a finished JSON-lines export of the project."""
    status, job = live.call("POST", f"/api/projects/{project_id}/exports", token, {"format": "jsonl"})
    assert status == 202, job
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, job = live.call("GET", f"/api/jobs/{job['id']}", token)
        if job["status"] == "succeeded":
            return job["id"]
        assert job["status"] in ("queued", "running"), job
        await asyncio.sleep(0.2)
    raise AssertionError(f"export {job['id']} did not finish: {job}")


async def test_one_users_stalled_downloads_are_bounded_and_another_user_downloads(live, database_url):
    """A job's result is streamed a few chunks at a time: each download the client stops
    reading holds the chunks it read for as long as it waits."""
    _, _, greedy = live.user()
    _, _, other = live.user()
    job = await _exported(live, greedy, await _heavy_project(live, database_url, greedy))
    other_job = await _exported(live, other, await _heavy_project(live, database_url, other))
    path = f"/api/jobs/{job}/result"
    status, size = await _read_page(live.port, greedy, path)
    assert status == 200 and size > 9 * MiB
    firsts, before, peak, other_answer = await _stall_many(
        live, greedy, path, lambda: _read_page(live.port, other, f"/api/jobs/{other_job}/result"))
    assert other_answer[0] == 200
    refused = [line for line in firsts if line.startswith(b"HTTP/1.1 429")]
    served_ = [line for line in firsts if line.startswith(b"HTTP/1.1 200")]
    grown = peak - before
    print(f"\n{CONNECTIONS} stalled downloads of a {size / MiB:.0f} MiB result by one user: {len(served_)} sent,"
          f" {len(refused)} refused; worker RSS {before / MiB:.0f} -> {peak / MiB:.0f} MiB (+{grown / MiB:.0f})")
    assert len(served_) + len(refused) == CONNECTIONS, firsts
    assert len(served_) == 4, firsts                         # STREAMS_PER_CALLER
    assert grown < 96 * MiB, f"the worker grew {grown / MiB:.0f} MiB for one user's stalled downloads"
    await asyncio.sleep(0.5)                                 # closed: the user's slots are free again
    assert await _read_page(live.port, greedy, path) == (200, size)
