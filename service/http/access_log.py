"""The access log: one line per answered request on logger `service.access`, at INFO.

A REQUEST_FINISHED hook of the request middleware (app.py registers it when
ACCESS_LOG is true). Fields: method, route (the template, `unmatched` for a 404 of no
route; never the raw path, which may carry ids or tokens), status, duration_ms,
request_id, user_id (null for anonymous callers and METRICS_TOKEN scrapers).

With LOG_FORMAT=text the message is `key=value` pairs:
    method=GET route=/api/posts/{id} status=200 duration_ms=0.84 request_id=3f2a9c1e7b4d-1a user_id=6a1e...
With LOG_FORMAT=json the fields are top-level keys of the JSON line (observability/logs.py).
The line is built from a handful of scalars (no serialization of big structures); the
cost per request is measured in the README (Performance, access log).
"""
from __future__ import annotations

import logging

from service.context import RequestContext

log = logging.getLogger("service.access")


class AccessLog:
    def __init__(self, structured: bool) -> None:
        self.structured = structured     # LOG_FORMAT=json: fields for the JSON formatter

    def __call__(self, ctx: RequestContext, method: str, status: int, elapsed: float) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        duration_ms = round(elapsed * 1000, 2)
        user_id = None if ctx.user_id is None else str(ctx.user_id)
        if self.structured:
            log.info("%s %s %d", method, ctx.endpoint, status, extra={"fields": {
                "method": method, "route": ctx.endpoint, "status": status, "duration_ms": duration_ms,
                "request_id": ctx.request_id, "user_id": user_id}})
        else:
            log.info(f"method={method} route={ctx.endpoint} status={status} duration_ms={duration_ms} "
                     f"request_id={ctx.request_id} user_id={user_id or 'null'}")
