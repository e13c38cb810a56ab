"""The HTTP layer under hostile clients, where the other adversarial files do not reach
(test_adversarial_protocol.py, test_adversarial_input.py, test_slow_clients.py): clients
that go away in the middle of a request, and query strings built to cost CPU.

The promise under test (README "Limits"): what a client does never makes the service
answer 500 or log an error, and one request cannot hold the event loop.
"""
from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import struct
import zlib

import asyncpg
import pytest
from jobutil import insert_posts, wait_for, wait_job, worker_settings
from rawhttp import answers, exchange, raw_request, serving_on_a_port

from service import keys


@pytest.fixture
async def served(settings):
    """The service on a real port, as `run.py serve` runs it: (port, app, statuses), where
    statuses lists (route, status) of every request the middleware finished."""
    async with serving_on_a_port(settings.replace(request_header_timeout_s=5.0, request_body_timeout_s=5.0)) \
            as (port, _runner, app):
        statuses: list[tuple[str, int]] = []
        app[keys.REQUEST_FINISHED].append(lambda ctx, method, status, elapsed: statuses.append((ctx.endpoint, status)))
        yield port, app, statuses


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- clients that go away -----------------------------------------------------------------

async def test_a_client_that_closes_before_its_body_ends_is_a_4xx_not_an_unhandled_500(served, api, caplog):
    """A POST whose connection closes before Content-Length bytes came: aiohttp fails the
    body's read with ConnectionResetError, which read_json did not catch, so the middleware
    logged an unhandled error with its traceback and counted a 500 (the 5xx alert fires
    on such clients)."""
    port, _app, statuses = served
    user = await api.user()
    caplog.set_level(logging.INFO)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw_request("POST", "/api/clients", token=user.token,
                             headers={"Content-Type": "application/json", "Content-Length": "100"})
                 .replace(b"Connection: close\r\n", b"") + b'{"name": "cut sh')
    await writer.drain()
    await asyncio.sleep(0.3)                  # the handler is waiting for the rest of the body
    writer.close()

    async def finished():
        return [s for route, s in statuses if route == "/api/clients"]
    assert await wait_for(finished, 10, "the cut request to finish") == [400]
    assert not _errors(caplog), _errors(caplog)
    assert answers(await exchange("127.0.0.1", port, raw_request("GET", "/api/health/live")))[0][0] == 200


async def test_a_client_that_resets_a_result_download_is_no_error(served, api, make_api, settings, database_url,
                                                                  caplog):
    """A download the client resets part-way: the drain fails with ConnectionError, which
    job_result logged at ERROR with a traceback as a broken download ("broke off"); a close
    that met the next write raised ConnectionResetError to the middleware: an unhandled 500.
    A client going away is neither."""
    port, _app, statuses = served
    user = await api.user()
    project = await api.project_of(user)
    conn = await asyncpg.connect(database_url)
    try:
        await insert_posts(conn, user.id, project["id"], 60, content_size=90_000)      # a ~5.4 MB export
    finally:
        await conn.close()
    job = (await api.post(f"/api/projects/{project['id']}/exports", user, json={}, expect=202))["id"]
    worker_api = await make_api(worker_settings(settings, jobs_concurrency=1))
    assert (await wait_job(worker_api, user, job))["status"] == "succeeded"
    caplog.set_level(logging.INFO)

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)      # the answer stays on the server
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(raw_request("GET", f"/api/jobs/{job}/result", token=user.token))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close = reset
    writer.transport.abort()

    async def finished():
        return [s for route, s in statuses if route == "/api/jobs/{id}/result"]
    assert await wait_for(finished, 10, "the download to finish") == [200]
    assert not _errors(caplog), _errors(caplog)
    assert any("went away" in r.getMessage() for r in caplog.records if r.name == "service.api.jobs")
    assert answers(await exchange("127.0.0.1", port, raw_request("GET", "/api/health/live")))[0][0] == 200


# -- bodies in a coding the service does not decode ----------------------------------------

@pytest.mark.parametrize("coding, body", [
    ("x-gzip", gzip.compress(b'{"name": "coded"}')),              # aiohttp decodes "gzip" only
    ("gzip, gzip", gzip.compress(gzip.compress(b'{"name": "coded"}'))),
    ("foo", b'{"name": "coded"}'),                                  # was stored as if plain
], ids=["x-gzip", "stacked", "unknown"])
async def test_a_body_in_a_content_encoding_that_is_not_decoded_is_415(api, coding, body):
    """aiohttp decodes gzip and deflate and passes any other Content-Encoding through as
    it came: "foo" was read as plain JSON (a client that compressed its body some other way
    had it taken for what it is not), x-gzip and a stack of codings were refused with a
    puzzling 400 about invalid UTF-8."""
    user = await api.user()
    resp, answer = await api.call("POST", "/api/clients", user, data=body,
                                  headers={"Content-Type": "application/json", "Content-Encoding": coding})
    assert resp.status == 415, (resp.status, answer)
    assert answer["error"]["code"] == "unsupported_media_type" and answer["error"]["field"] == "Content-Encoding"
    assert (await api.get("/api/clients", user))["items"] == []


async def test_the_codings_aiohttp_decodes_are_still_taken(served, api):
    """gzip and deflate (any case), identity and an empty value are read as before; two
    Content-Encoding headers are 415 too (aiohttp decodes by the first only)."""
    port, _app, _statuses = served
    user = await api.user()
    for coding, body in (("gzip", gzip.compress(b'{"name": "g"}')), ("GZIP", gzip.compress(b'{"name": "G"}')),
                         ("deflate", zlib.compress(b'{"name": "d"}')), ("identity", b'{"name": "i"}'),
                         ("", b'{"name": "e"}')):
        resp, answer = await api.call("POST", "/api/clients", user, data=body,
                                      headers={"Content-Type": "application/json", "Content-Encoding": coding})
        assert resp.status == 201, (coding, answer)
    raw = raw_request("POST", "/api/clients", token=user.token, body=gzip.compress(gzip.compress(b'{"name": "x"}')),
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    raw = raw.replace(b"Content-Encoding: gzip\r\n", b"Content-Encoding: gzip\r\nContent-Encoding: gzip\r\n")
    status, _headers, body = answers(await exchange("127.0.0.1", port, raw))[0]
    assert status == 415, body


async def test_a_job_result_answers_if_none_match_star_with_304_as_every_get_does(api, make_api, settings):
    """RFC 9110 13.1.2: `If-None-Match: *` is false when the resource has a representation;
    every other GET answers 304 (http/responses.py), the job result compared its own way
    and sent the whole file again."""
    user = await api.user()
    project = await api.project_of(user)
    job = (await api.post(f"/api/projects/{project['id']}/reports", user, json={}, expect=202))["id"]
    worker_api = await make_api(worker_settings(settings, jobs_concurrency=1))
    assert (await wait_job(worker_api, user, job))["status"] == "succeeded"
    got, _ = await api.call("GET", f"/api/jobs/{job}/result", user, expect=200)
    etag = got.headers["ETag"]
    for header in ("*", f'"other", W/{etag}', etag):
        resp, _ = await api.call("GET", f"/api/jobs/{job}/result", user, headers={"If-None-Match": header})
        assert resp.status == 304 and resp.headers["ETag"] == etag, header
    resp, _ = await api.call("GET", f"/api/jobs/{job}/result", user, headers={"If-None-Match": '"other"'})
    assert resp.status == 200


@pytest.mark.parametrize("method, path", [("GET", "/api/health/live"), ("POST", "/api/clients"),
                                          ("PUT", "/api/health")], ids=["read", "anonymous", "405"])
async def test_a_broken_compressed_body_nobody_reads_is_no_unhandled_error(served, caplog, method, path):
    """A gzip body that does not decode, sent to a route that answers without reading it:
    aiohttp reads and drops the body after the answer, meets the decode error there and
    logged "Unhandled exception" at ERROR with a traceback, once per such request (a log
    flood for anyone, no token needed). The answer is unchanged, the connection closed."""
    port, _app, _statuses = served
    caplog.set_level(logging.INFO)
    request = raw_request(method, path, body=b"these bytes are not gzip",
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    raw = await exchange("127.0.0.1", port, request.replace(b"Connection: close\r\n", b""))   # closed by the service
    assert answers(raw)[0][0] in (200, 401, 405), raw[:200]
    assert not _errors(caplog), _errors(caplog)
    dropped = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert dropped and not any("these bytes" in line for line in dropped), dropped
