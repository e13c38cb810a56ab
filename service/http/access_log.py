"""The access log: one line per answered request on logger `service.access`.

A REQUEST_FINISHED hook of the request middleware (app.py registers it when
ACCESS_LOG is true). Fields: method, route (the template, `unmatched` for a 404 of no
route; never the raw path, which may carry ids or tokens), status, duration_ms,
request_id, user_id (null for anonymous callers and METRICS_TOKEN scrapers).

LOG_FORMAT=text, the same prefix as every other log line:
    2026-12-04 18:20:01,337 INFO [4242] service.access: method=GET route=/api/posts/{id} status=200
    duration_ms=0.84 request_id=3f2a9c1e7b4d-1a user_id=6a1e...   (one line, wrapped here)
LOG_FORMAT=json, one object per line with the fields at the top level (observability/logs.py
writes the other log lines with the same keys).

Cost: a logging record costs 6-10 us to create and dispatch, which measured as a large
share of the cached hot path (docs/performance.md, "Access log cost"). So the hook only formats the line
(a few scalars, an f-string or orjson) and appends it to a buffer; the buffer goes to
the logger as ONE record per batch, every FLUSH_INTERVAL_S or MAX_BATCH lines and when
the app stops. Each line of a batch is complete, timestamped when its request ended;
the logger's handler writes the message as is (observability/logs.py). A crash can
lose the last FLUSH_INTERVAL_S of lines.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time

import orjson
from aiohttp import web

from service.context import RequestContext

log = logging.getLogger("service.access")

FLUSH_INTERVAL_S = 0.25
MAX_BATCH = 256


class AccessLog:
    def __init__(self, structured: bool) -> None:
        self.structured = structured     # LOG_FORMAT=json
        self.lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._pid = os.getpid()
        self._second = -1
        self._second_text = ""

    def __call__(self, ctx: RequestContext, method: str, status: int, elapsed: float) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        now = time.time()
        user_id = None if ctx.user_id is None else str(ctx.user_id)
        if self.structured:
            line = orjson.dumps({
                "ts": self._stamp(now, "%Y-%m-%dT%H:%M:%S", ".", "Z"), "level": "INFO", "logger": log.name,
                "pid": self._pid, "message": f"{method} {ctx.endpoint} {status}", "method": method,
                "route": ctx.endpoint, "status": status, "duration_ms": round(elapsed * 1000, 2),
                "request_id": ctx.request_id, "user_id": user_id}).decode()
        else:
            line = (f"{self._stamp(now, '%Y-%m-%d %H:%M:%S', ',', '')} INFO [{self._pid}] service.access: "
                    f"method={method} route={ctx.endpoint} status={status} duration_ms={elapsed * 1000:.2f} "
                    f"request_id={ctx.request_id} user_id={user_id or 'null'}")
        lines = self.lines
        lines.append(line)
        if len(lines) >= MAX_BATCH:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self.flush)

    def _stamp(self, now: float, layout: str, dot: str, zone: str) -> str:
        """The time as logging writes it (local for text, UTC for JSON), strftime once a second."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime(layout, time.gmtime(second) if zone else time.localtime(second))
        return f"{self._second_text}{dot}{int((now - second) * 1000):03d}{zone}"

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.lines:
            batch, self.lines = self.lines, []
            log.info("\n".join(batch))

    async def close(self, _app: web.Application) -> None:
        """on_cleanup: write what is buffered."""
        self.flush()
