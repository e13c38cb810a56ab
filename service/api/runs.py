"""/api/projects/{id}/runs (create), /api/runs (list by project), /api/runs/{id} (get, patch)."""
from __future__ import annotations

from aiohttp import web

from service.api.common import db_of, detail_response, list_response, require_visible
from service.auth.guards import require_user
from service.errors import NotFound
from service.http.body import read_json, read_optional_json
from service.http.responses import json_response
from service.schemas import runs as schema
from service.schemas.validate import parse_id, validate_body
from service.store import projects, runs


async def create_run(request: web.Request) -> web.Response:
    user = await require_user(request)
    project_id = parse_id(request.match_info["id"], "project")
    body = validate_body(await read_optional_json(request), schema.CREATE)
    async with db_of(request).transaction() as tx:
        owner_id = await projects.owner_of(tx, project_id, user.scope)
        if owner_id is None:
            raise NotFound("project not found")
        row = await runs.insert(tx, owner_id=owner_id, project_id=project_id, values=body)
    return json_response(request, dict(row), status=201)


async def list_runs(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_filters(filters: dict) -> dict:
        if filters.get("project_id") is not None:
            await require_visible(request, projects.visible, filters["project_id"], user.scope, "project",
                                  "project_id")
        return runs.list_filters(user.scope, **filters)

    return await list_response(request, user, runs.LIST, schema.FILTERS, build_filters)


async def get_run(request: web.Request) -> web.Response:
    return await detail_response(request, await require_user(request), runs.get, "run", "short")


async def patch_run(request: web.Request) -> web.Response:
    user = await require_user(request)
    run_id = parse_id(request.match_info["id"], "run")
    body = validate_body(await read_json(request), schema.PATCH, partial=True)
    row = await runs.update(db_of(request), run_id, user.scope, body)
    if row is None:
        raise NotFound("run not found")
    return json_response(request, dict(row))
