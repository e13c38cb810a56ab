"""The HTTP layer under hostile clients, where the other adversarial files do not reach
(test_adversarial_protocol.py, test_adversarial_input.py, test_slow_clients.py): clients
that go away in the middle of a request, and query strings built to cost CPU.

The promise under test (README "Limits"): what a client does never makes the service
answer 500 or log an error, and one request cannot hold the event loop.
"""
from __future__ import annotations

import asyncio
import logging

import pytest
from jobutil import wait_for
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
