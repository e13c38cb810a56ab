"""Generation runs: POST /api/projects/{id}/runs, GET /api/runs[?project_id], GET|PATCH /api/runs/{id}."""
from __future__ import annotations

from aiohttp import web

from ..auth import require_user
from ..db.registry import query
from ..errors import NotFound
from ..pagination import list_queries
from ..validation import Field, parse_id, validate_body
from ..web import json_response, read_json
from .common import db_of, detail_response, list_response, require_visible

RUNS = list_queries("runs")
GET = query("runs/get")
INSERT = query("runs/insert")
UPDATE = query("runs/update")
PROJECT_OWNER = query("projects/owner")
PROJECT_VISIBLE = query("projects/visible")

STATUSES = ("pending", "running", "succeeded", "failed")
CREATE = {
    "is_batch": Field("bool", nullable=False),
    "status": Field("text", nullable=False, choices=STATUSES),
    "logs": Field("json_list", max_items=10000),
    "error_message": Field("text", max_length=10000),
}
PATCH = {
    "status": Field("text", nullable=False, choices=STATUSES),
    "error_message": Field("text", max_length=10000),
    "logs": Field("json_list", max_items=10000),
}
FILTERS = {"project_id": Field("id")}


async def create_run(request: web.Request) -> web.Response:
    user = await require_user(request)
    project_id = parse_id(request.match_info["id"], "project")
    body = validate_body(await read_json(request) if request.body_exists else {}, CREATE)
    async with db_of(request).transaction() as tx:
        owner_id = await tx.fetchval(PROJECT_OWNER, project_id, user.scope)
        if owner_id is None:
            raise NotFound("project not found")
        row = await tx.fetchrow(INSERT, owner_id, project_id, body.get("is_batch"), body.get("status"),
                                body.get("logs"), body.get("error_message"))
    return json_response(request, dict(row), status=201)


async def list_runs(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_args(filters):
        project_id = filters.get("project_id")
        if project_id is not None:
            await require_visible(request, PROJECT_VISIBLE, project_id, user.scope, "project")
        return (user.scope, project_id)

    return await list_response(request, user, RUNS, FILTERS, build_args)


async def get_run(request: web.Request) -> web.Response:
    return await detail_response(request, await require_user(request), GET, "run", "short")


async def patch_run(request: web.Request) -> web.Response:
    user = await require_user(request)
    run_id = parse_id(request.match_info["id"], "run")
    body = validate_body(await read_json(request), PATCH, partial=True)
    row = await db_of(request).fetchrow(UPDATE, run_id, user.scope, list(body), body.get("status"),
                                        body.get("error_message"), body.get("logs"))
    if row is None:
        raise NotFound("run not found")
    return json_response(request, dict(row))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/projects/{id}/runs", create_run)
    app.router.add_get("/api/runs", list_runs)
    app.router.add_get("/api/runs/{id}", get_run)
    app.router.add_patch("/api/runs/{id}", patch_run)
