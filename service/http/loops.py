"""The event loop the service runs on: EVENT_LOOP=uvloop (default) or asyncio.

uvloop (libuv under the asyncio API) was measured against the standard loop with
`run.py bench` (docs/performance.md, "Event loop"); the setting keeps the standard loop one
variable away, e.g. for a platform uvloop does not build on.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop
        return uvloop.new_event_loop
    if name == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"unknown event loop {name!r}")


def run(main: Coroutine[Any, Any, T], name: str) -> T:
    """asyncio.run(main) on the named loop (asyncio.Runner: Python 3.11 has no asyncio.run(loop_factory=))."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)
