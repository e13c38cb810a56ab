"""Connections as a resource, against a real `run.py serve`: one client cannot hold the
descriptors every other client needs (service/http/protocol.py).

- a new connection must send its first request within REQUEST_HEADER_TIMEOUT_S of being
  accepted; one that sends nothing is closed without an answer;
- one address holds at most MAX_CONNECTIONS_PER_ADDRESS connections; one more is answered
  503 `too_many_connections` and closed, and other addresses are not affected;
- idle keep-alive connections between requests are kept as before;
- `run.py serve` raises its soft RLIMIT_NOFILE to the hard limit at start-up.

Other addresses are loopback addresses of their own (127.x.y.z all reach the server on Linux).
"""
from __future__ import annotations

import json
import resource
import secrets
import socket
import time
from pathlib import Path

import pytest
from live import served, wait_until

HEADER_TIMEOUT_S = 1.5
CAP = 8


def _address() -> str:
    """A loopback address of its own (127.x.y.z all reach the server on Linux): the cap
    counts per address, so the victim must not share the attacker's."""
    return f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"


def _connect(port: int, address: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(address, 0))


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (socket timeout: raises)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """One Content-Length framed answer, leaving the connection open."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the middle of an answer"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _get(sock: socket.socket, path: str = "/api/health/live") -> int:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: limits\r\n\r\n".encode())
    return _read_answer(sock)[0]


def _descriptors(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def _nofile(pid: int) -> tuple[int, int]:
    """The process's (soft, hard) open files limit, from /proc/<pid>/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError(f"no open files limit for pid {pid}")


@pytest.fixture(scope="module")
def limited(database_url, tmp_path_factory):
    """One worker with a short header limit and a small cap per address."""
    with served(database_url, tmp_path_factory.mktemp("limits"), JOBS_WORKER="false",
                REQUEST_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S), MAX_CONNECTIONS_PER_ADDRESS=str(CAP)) as service:
        yield service


# -- the reproduction: 1,050 silent connections of one client -------------------------

def test_idle_connections_of_one_client_do_not_lock_the_others_out(database_url, tmp_path):
    """deploy/content-jumpstart.service used to set no LimitNOFILE, so the service ran with
    systemd's default soft limit of 1024 descriptors. One client opens 1050 connections and
    sends nothing; aiohttp kept each for keepalive_timeout (75 s), with no cap per address.
    The service now raises its soft limit to the hard one (checked first); the limit is then
    forced back to 1024 to hold the cap and the header clock to the old conditions."""
    own = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, own[1]), own[1]))   # what systemd gives
    try:
        context = served(database_url, tmp_path, JOBS_WORKER="false")
        service = context.__enter__()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, own)
    try:
        pid = service.process.pid
        soft, hard = _nofile(pid)
        print(f"\nstarted under a soft limit of {min(1024, own[1])}: the worker runs with {soft} (hard {hard})")
        assert soft == hard, f"the worker kept a soft limit of {soft} below its hard limit {hard}"

        resource.prlimit(pid, resource.RLIMIT_NOFILE, (1024, resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]))
        attacker = _address()
        sockets = []
        try:
            for _ in range(1050):
                sockets.append(_connect(service.port, attacker))
            time.sleep(1.0)
            held = _descriptors(pid)
            started = time.perf_counter()
            try:
                answer: object = service.call("GET", "/api/health/live", timeout=5)[0]
            except Exception as exc:  # the failure is the finding
                answer = repr(exc)
            took = time.perf_counter() - started
        finally:
            for sock in sockets:
                sock.close()
        print(f"1050 idle connections of one client; the worker holds {held} descriptors; another "
              f"client's GET /api/health/live: {answer} after {took * 1000:.0f} ms")
        assert answer == 200, f"another client was not answered: {answer}"
        assert held < 1024 - 256, f"the worker holds {held} descriptors for one address's idle connections"
    finally:
        context.__exit__(None, None, None)


# -- the first request's clock ------------------------------------------------------------

def test_a_connection_that_sends_nothing_is_closed_after_the_header_limit(limited):
    sock = _connect(limited.port, _address(), timeout=HEADER_TIMEOUT_S + 8)
    started = time.monotonic()
    try:
        received = _read_all(sock)
    except TimeoutError:
        received = None
    finally:
        sock.close()
    took = time.monotonic() - started
    assert received is not None, f"a silent connection was still open after {took:.1f} s"
    assert received == b"", f"a silent connection was answered: {received[:200]!r}"   # nothing asked
    assert HEADER_TIMEOUT_S - 0.2 <= took < HEADER_TIMEOUT_S + 3, took


def test_the_first_requests_header_clock_starts_at_the_connection(limited):
    """Bytes that come late count from the connection, not from their first byte: a request
    line begun just before the limit gets 408 at the limit (not a whole limit later)."""
    sock = _connect(limited.port, _address(), timeout=HEADER_TIMEOUT_S * 3 + 5)
    started = time.monotonic()
    try:
        time.sleep(HEADER_TIMEOUT_S * 0.7)
        sock.sendall(b"GET /api/health/live HTTP/1.1\r\nHost: x\r\n")        # no blank line: unfinished
        status, headers, body = _read_answer(sock)
        took = time.monotonic() - started
        assert status == 408 and json.loads(body)["error"]["code"] == "request_timeout"
        assert headers["x-request-id"] == json.loads(body)["request_id"]
        assert _read_all(sock) == b""
    finally:
        sock.close()
    # From the first byte it would be 1.7 limits; from the connection, 1.
    assert took < HEADER_TIMEOUT_S * 1.45, f"408 after {took:.2f} s; the limit is {HEADER_TIMEOUT_S} s from connect"


def test_keep_alive_connections_are_reused_and_not_cut_between_requests(limited):
    """Several requests on one connection, idle longer than the header limit between them."""
    sock = _connect(limited.port, _address())
    try:
        for _ in range(4):
            assert _get(sock) == 200
            time.sleep(HEADER_TIMEOUT_S + 0.3)
        assert _get(sock) == 200
    finally:
        sock.close()


# -- the cap per address ------------------------------------------------------------------

def test_one_address_gets_at_most_the_cap_and_other_addresses_are_unaffected(limited):
    attacker, other = _address(), _address()
    held = [_connect(limited.port, attacker) for _ in range(CAP)]
    try:
        assert all(_get(sock) == 200 for sock in held[:2])     # kept alive, still counted
        extra = _connect(limited.port, attacker, timeout=5)
        try:
            refused = _read_all(extra)
        except TimeoutError:
            refused = b"(still open after 5 s)"
        finally:
            extra.close()
        assert refused.startswith(b"HTTP/1.1 503 "), f"the connection over the cap: {refused[:300]!r}"
        status, headers, body = _read_answer_bytes(refused)
        assert status == 503
        payload = json.loads(body)
        assert payload["error"]["code"] == "too_many_connections" and payload["request_id"] == headers["x-request-id"]
        assert headers["connection"] == "close" and headers["retry-after"] == "1"
        assert headers["content-type"].startswith("application/json")
        assert headers["x-content-type-options"] == "nosniff"

        # Another address: its own connections, all answered, while the first is at its cap.
        others = [_connect(limited.port, other) for _ in range(CAP)]
        try:
            assert [_get(sock) for sock in others] == [200] * CAP
        finally:
            for sock in others:
                sock.close()
        assert limited.call("GET", "/api/health/live")[0] == 200                # 127.0.0.1

        # A closed connection frees its place.
        held.pop().close()

        def admitted() -> bool:
            sock = _connect(limited.port, attacker)
            try:
                return _get(sock) == 200
            except (AssertionError, OSError):
                return False
            finally:
                sock.close()
        wait_until(admitted, "a place freed by a closed connection", timeout=5, interval=0.1)
    finally:
        for sock in held:
            sock.close()


def _read_answer_bytes(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert int(headers["content-length"]) == len(body), raw[:300]
    return int(lines[0].split()[1]), headers, body


def test_a_flood_from_one_address_is_refused_at_once_and_its_idle_connections_expire(limited):
    """200 connections from one address: the worker keeps CAP of them, refuses the rest at
    once, and closes the kept ones after the header limit, back to its own descriptors."""
    pid = limited.process.pid
    before = _descriptors(pid)
    attacker = _address()
    sockets = [_connect(limited.port, attacker) for _ in range(200)]
    try:
        time.sleep(0.5)
        during = _descriptors(pid)
        assert during <= before + CAP + 2, f"{during - before} descriptors for one address (cap {CAP})"
        assert limited.call("GET", "/api/health/live", timeout=5)[0] == 200
        wait_until(lambda: _descriptors(pid) <= before + 1, "the idle connections to be closed",
                   timeout=HEADER_TIMEOUT_S + 5, interval=0.1)
    finally:
        for sock in sockets:
            sock.close()
