"""/api/clients: list (search), create, get, patch, delete."""
from __future__ import annotations

from aiohttp import web

from ..auth import require_user
from ..db.registry import query
from ..errors import NotFound
from ..pagination import list_queries
from ..validation import Field, like_pattern, parse_id, validate_body
from ..web import json_response, read_json
from .common import db_of, delete_response, detail_response, list_response

CLIENTS = list_queries("clients")
GET = query("clients/get")
INSERT = query("clients/insert")
UPDATE = query("clients/update")
DELETE = query("clients/delete")

_TEXT = Field("text", max_length=10000)
SCHEMA = {
    "name": Field("text", required=True, nullable=False, min_length=1, max_length=200),
    "email": Field("email", max_length=254),
    "business_description": _TEXT,
    "ideal_customer": _TEXT,
    "main_problem_solved": _TEXT,
    "tone_preference": Field("text", max_length=200),
    "platforms": Field("text_list", max_length=50, max_items=20),
    "customer_pain_points": Field("text_list", max_length=1000, max_items=100),
    "customer_questions": Field("text_list", max_length=1000, max_items=100),
}
FIELDS = list(SCHEMA)
FILTERS = {"search": Field("text", max_length=200)}


async def list_clients(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_args(filters):
        return (user.scope, like_pattern(filters.get("search")))

    return await list_response(request, user, CLIENTS, FILTERS, build_args, tier="medium")


async def create_client(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = validate_body(await read_json(request), SCHEMA)
    row = await db_of(request).fetchrow(INSERT, user.id, *(body.get(name) for name in FIELDS))
    return json_response(request, dict(row), status=201)


async def get_client(request: web.Request) -> web.Response:
    return await detail_response(request, await require_user(request), GET, "client", "medium")


async def patch_client(request: web.Request) -> web.Response:
    user = await require_user(request)
    client_id = parse_id(request.match_info["id"], "client")
    body = validate_body(await read_json(request), SCHEMA, partial=True)
    row = await db_of(request).fetchrow(UPDATE, client_id, user.scope, list(body), *(body.get(n) for n in FIELDS))
    if row is None:
        raise NotFound("client not found")
    return json_response(request, dict(row))


async def delete_client(request: web.Request) -> web.Response:
    return await delete_response(request, await require_user(request), DELETE, "client")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/clients", list_clients)
    app.router.add_post("/api/clients", create_client)
    app.router.add_get("/api/clients/{id}", get_client)
    app.router.add_patch("/api/clients/{id}", patch_client)
    app.router.add_delete("/api/clients/{id}", delete_client)
