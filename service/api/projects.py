"""/api/projects: list (status, client_id, search), create, get (with post_counts), patch, delete."""
from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from ..auth import require_user
from ..db.registry import query
from ..errors import NotFound, ValidationFailed
from ..pagination import list_queries
from ..validation import Field, like_pattern, parse_id, validate_body
from ..web import json_response, read_json
from .common import db_of, delete_response, detail_response, list_response, require_visible

PROJECTS = list_queries("projects")
GET = query("projects/get")
OWNER = query("projects/owner")
INSERT = query("projects/insert")
UPDATE = query("projects/update")
DELETE = query("projects/delete")
CLIENT_OWNER = query("clients/owner")
CLIENT_VISIBLE = query("clients/visible")

STATUSES = ("draft", "processing", "qa_review", "ready", "delivered")
_PRICE = Field("number", minimum=0, maximum=9_999_999_999.99)
SCHEMA = {
    "client_id": Field("id", required=True, nullable=False),
    "name": Field("text", required=True, nullable=False, min_length=1, max_length=200),
    "status": Field("text", nullable=False, choices=STATUSES),
    "template_quantities": Field("int_map", max_items=200),
    "num_posts": Field("int", minimum=0, maximum=1_000_000),
    "price_per_post": _PRICE,
    "research_price_per_post": _PRICE,
    "total_price": _PRICE,
    "platforms": Field("text_list", max_length=50, max_items=20),
    "tone": Field("text", max_length=200),
}
# Column order of projects/insert.sql and projects/update.sql after their fixed parameters.
VALUE_FIELDS = ["name", "status", "template_quantities", "num_posts", "price_per_post",
                "research_price_per_post", "total_price", "platforms", "tone"]
FILTERS = {
    "status": Field("text", choices=STATUSES),
    "client_id": Field("id"),
    "search": Field("text", max_length=200),
}


def serialize_detail(row) -> dict:
    project = dict(row)
    project["post_counts"] = {k: project.pop(k) for k in ("total", "approved", "flagged")}
    return project


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _values(body: dict) -> list:
    money = ("price_per_post", "research_price_per_post", "total_price")
    return [_money(body.get(f)) if f in money else body.get(f) for f in VALUE_FIELDS]


async def list_projects(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_args(filters):
        client_id = filters.get("client_id")
        if client_id is not None:
            await require_visible(request, CLIENT_VISIBLE, client_id, user.scope, "client")
        return (user.scope, filters.get("status"), client_id, like_pattern(filters.get("search")))

    return await list_response(request, user, PROJECTS, FILTERS, build_args)


async def create_project(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = validate_body(await read_json(request), SCHEMA)
    client_id = parse_id(body["client_id"], "client")
    if body.get("total_price") is None and body.get("num_posts") is not None and body.get("price_per_post") is not None:
        per_post = _money(body["price_per_post"]) + (_money(body.get("research_price_per_post")) or 0)
        body["total_price"] = per_post * body["num_posts"]
        # The product of two valid inputs can still overflow numeric(12,2).
        if body["total_price"] > Decimal(str(_PRICE.maximum)):
            raise ValidationFailed(f"total_price: num_posts x price comes to more than {_PRICE.maximum:,.2f}",
                                   field="total_price")
    async with db_of(request).transaction() as tx:
        owner_id = await tx.fetchval(CLIENT_OWNER, client_id, user.scope)
        if owner_id is None:
            raise NotFound("client not found")
        created = await tx.fetchrow(INSERT, owner_id, client_id, *_values(body))
        row = await tx.fetchrow(GET, created["id"], None)
    return json_response(request, serialize_detail(row), status=201)


async def get_project(request: web.Request) -> web.Response:
    return await detail_response(request, await require_user(request), GET, "project", "medium", serialize_detail)


async def patch_project(request: web.Request) -> web.Response:
    user = await require_user(request)
    project_id = parse_id(request.match_info["id"], "project")
    body = validate_body(await read_json(request), SCHEMA, partial=True)
    client_id = parse_id(body["client_id"], "client") if "client_id" in body else None
    async with db_of(request).transaction() as tx:
        project_owner = await tx.fetchval(OWNER, project_id, user.scope)
        if project_owner is None:
            raise NotFound("project not found")
        if client_id is not None:
            client_owner = await tx.fetchval(CLIENT_OWNER, client_id, user.scope)
            if client_owner is None:
                raise NotFound("client not found")
            if client_owner != project_owner:
                raise ValidationFailed("client_id: the client belongs to another user than the project",
                                       field="client_id")
        await tx.fetchrow(UPDATE, project_id, user.scope, list(body), client_id, *_values(body))
        row = await tx.fetchrow(GET, project_id, None)
    return json_response(request, serialize_detail(row))


async def delete_project(request: web.Request) -> web.Response:
    return await delete_response(request, await require_user(request), DELETE, "project")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/projects", list_projects)
    app.router.add_post("/api/projects", create_project)
    app.router.add_get("/api/projects/{id}", get_project)
    app.router.add_patch("/api/projects/{id}", patch_project)
    app.router.add_delete("/api/projects/{id}", delete_project)
