"""The built-in load generator: aiohttp, a fixed number of connections, a deadline.

Used when wrk is not installed, and always for the mixed read/write scenario,
which needs each write's acknowledgement. Runs in the bench process, which is
not the service's process. Python is a slower client than wrk: at high request
rates it measures itself as much as the server, which the report says.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from service.bench.load import LoadResult, percentile

MAX_REQUESTS = 5_000_000       # a hard bound on top of the deadline
REQUEST_TIMEOUT_S = 10.0


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    tag: Any = None            # handed back to on_response (what the mixed scenario wrote)
    headers: dict[str, str] | None = None    # on top of the session's (another caller's token)


# (call, status, body, response headers)
OnResponse = Callable[[Call, int, bytes, Mapping[str, str]], None]


async def drive(base_url: str, next_call: Callable[[], Call], *, connections: int, seconds: float,
                headers: dict[str, str], on_response: OnResponse | None = None,
                rate: float | None = None) -> LoadResult:
    """Issue calls from `connections` loops until the deadline; time each one. With `rate`
    (calls per second, all loops together) each loop starts its calls on a fixed schedule."""
    assert base_url.startswith("http://127.0.0.1:"), "the benchmark only drives loopback"
    latencies: list[float] = []
    errors = non_2xx = 0
    issued = 0
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(base_url, connector=connector, headers=headers, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def loop() -> None:
            nonlocal errors, non_2xx, issued
            clock = time.perf_counter
            interval = connections / rate if rate else 0.0
            next_start = clock()
            while clock() < deadline and issued < MAX_REQUESTS:
                if interval:
                    delay = next_start - clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_start += interval
                issued += 1
                call = next_call()
                begin = clock()
                try:
                    async with session.request(call.method, call.path, json=call.json,
                                               headers=call.headers) as resp:
                        body = await resp.read()
                        status = resp.status
                        reply_headers = resp.headers
                except (TimeoutError, aiohttp.ClientError, OSError):
                    errors += 1
                    continue
                latencies.append(clock() - begin)
                if not 200 <= status < 300:
                    non_2xx += 1
                if on_response is not None:
                    on_response(call, status, body, reply_headers)

        await asyncio.gather(*(loop() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(requests=len(latencies), seconds=elapsed, p50_ms=percentile(latencies, 0.50) * 1000,
                      p99_ms=percentile(latencies, 0.99) * 1000, errors=errors, non_2xx=non_2xx)


def round_robin(paths: Sequence[str]) -> Callable[[], Call]:
    calls = itertools.cycle([Call("GET", p) for p in paths])
    return lambda: next(calls)


class BuiltinGenerator:
    name = f"built-in (aiohttp {aiohttp.__version__})"

    def run(self, base_url: str, paths: Sequence[str], *, connections: int, seconds: float,
            headers: dict[str, str]) -> LoadResult:
        return asyncio.run(drive(base_url, round_robin(paths), connections=connections, seconds=seconds,
                                 headers=headers))
