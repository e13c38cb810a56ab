"""An app with one extra route, GET /test/busy?s=N: a user's request that keeps one
database session busy for N seconds (pg_sleep), for tests of per-user shares."""
from __future__ import annotations

from aiohttp import web
from conftest import Api

from service import keys
from service.app import create_app
from service.auth.guards import require_user
from service.db.registry import Query
from service.http.responses import json_response

BUSY_PATH = "/test/busy"
SLEEP = Query("tests/sleep", "SELECT pg_sleep($1::float8)", params=("seconds",))


async def _busy(request: web.Request) -> web.Response:
    await require_user(request)
    await request.app[keys.DB].fetchval(SLEEP, seconds=float(request.query.get("s", "1")))
    return json_response(request, {"done": True})


async def api_with_busy_route(aiohttp_client, database_url: str, settings) -> Api:
    app = create_app(settings)
    app.router.add_get(BUSY_PATH, _busy)
    return Api(await aiohttp_client(app), database_url)
