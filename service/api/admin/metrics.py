"""GET /metrics: Prometheus text; open unless METRICS_TOKEN is set."""
from __future__ import annotations

import hmac

from aiohttp import web

from service import keys
from service.auth.tokens import bearer_token
from service.errors import Unauthorized
from service.observability.metrics import CONTENT_TYPE


async def metrics(request: web.Request) -> web.Response:
    expected = request.app[keys.SETTINGS].metrics_token
    if expected is not None:
        given = bearer_token(request)
        if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("metrics need Authorization: Bearer <METRICS_TOKEN>")
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
