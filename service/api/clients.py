"""/api/clients: list (search), create, get, patch, delete."""
from __future__ import annotations

from aiohttp import web

from service.api.common import db_of, delete_response, detail_response, list_response
from service.auth.guards import require_user
from service.errors import NotFound
from service.http.body import read_json
from service.http.responses import json_response
from service.schemas import clients as schema
from service.schemas.validate import parse_id, validate_body
from service.store import clients


async def list_clients(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_filters(filters: dict) -> dict:
        return clients.list_filters(user.scope, **filters)

    return await list_response(request, user, clients.LIST, schema.FILTERS, build_filters, tier="medium")


async def create_client(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = validate_body(await read_json(request), schema.CLIENT)
    row = await clients.insert(db_of(request), owner_id=user.id, values=body)
    return json_response(request, dict(row), status=201)


async def get_client(request: web.Request) -> web.Response:
    return await detail_response(request, await require_user(request), clients.get, "client", "medium")


async def patch_client(request: web.Request) -> web.Response:
    user = await require_user(request)
    client_id = parse_id(request.match_info["id"], "client")
    body = validate_body(await read_json(request), schema.CLIENT, partial=True)
    row = await clients.update(db_of(request), client_id, user.scope, body)
    if row is None:
        raise NotFound("client not found")
    return json_response(request, dict(row))


async def delete_client(request: web.Request) -> web.Response:
    return await delete_response(request, await require_user(request), clients.delete, "client")
