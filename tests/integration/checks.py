"""Small assertions shared by the resource tests."""
from __future__ import annotations

from datetime import datetime


def aware_datetime(value: str) -> datetime:
    """An ISO 8601 timestamp that carries its time zone, parsed (docs/API.md section 3)."""
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


async def eventually(condition, what: str, timeout: float = 30.0, interval: float = 0.02):
    """Poll `condition()` (sync or async) until it is truthy; fail naming `what` after
    `timeout` seconds. Generous on purpose: the machine may be saturated, and a test
    must prove that something happens, not how fast (benchmarks measure speed)."""
    import asyncio
    import inspect

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        assert loop.time() < deadline, f"not within {timeout:g} s: {what}"
        await asyncio.sleep(interval)
