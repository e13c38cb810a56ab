"""/api/projects: list (status, client, search), create, get (with post counts), patch, delete."""
from __future__ import annotations

from aiohttp import web

from service import keys
from service.api.common import db_of, delete_response, detail_response, list_response, require_visible
from service.auth.guards import require_user
from service.errors import NotFound, ValidationFailed
from service.http.body import read_json
from service.http.responses import json_response
from service.jobs.tasks.emails import enqueue_delivery_notice
from service.schemas import projects as schema
from service.schemas.validate import parse_id, validate_body
from service.store import clients, jobs, projects
from service.store.projects import money


def _with_total_price(body: dict) -> dict:
    """total_price defaults to num_posts x (price_per_post + research_price_per_post)."""
    if body.get("total_price") is None and body.get("num_posts") is not None and body.get("price_per_post") is not None:
        per_post = money(body["price_per_post"]) + (money(body.get("research_price_per_post")) or 0)
        body["total_price"] = per_post * body["num_posts"]
        # The product of two valid inputs can still overflow numeric(12,2).
        if body["total_price"] > money(schema.PRICE_MAX):
            raise ValidationFailed(f"total_price: num_posts x price comes to more than {schema.PRICE_MAX:,.2f}",
                                   field="total_price")
    return body


async def list_projects(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_filters(filters: dict) -> dict:
        if filters.get("client_id") is not None:
            await require_visible(request, clients.visible, filters["client_id"], user.scope, "client",
                                  "client_id")
        return projects.list_filters(user.scope, **filters)

    return await list_response(request, user, projects.LIST, schema.FILTERS, build_filters)


async def create_project(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = _with_total_price(validate_body(await read_json(request), schema.PROJECT))
    client_id = parse_id(body.pop("client_id"), "client", field="client_id")
    async with db_of(request).transaction() as tx:
        if body.get("status") == "delivered":
            await jobs.lock_owner(tx, user.id)      # first, before any row lock (jobs/quota.py)
        owner_id = await clients.owner_of(tx, client_id, user.scope)
        if owner_id is None:
            raise NotFound("client_id: client not found", field="client_id")
        project_id = await projects.insert(tx, owner_id=owner_id, client_id=client_id, values=body)
        if body.get("status") == "delivered":
            # A project created delivered has become delivered too (contract section 8):
            # its client is noticed as after a PATCH, in this transaction.
            await enqueue_delivery_notice(tx, request.app[keys.SETTINGS], project_id,
                                          await projects.delivery_contact(tx, project_id), user.id)
        row = await projects.get(tx, project_id, None)
    return json_response(request, projects.detail(row), status=201)


async def get_project(request: web.Request) -> web.Response:
    return await detail_response(request, await require_user(request), projects.get, "project", "medium",
                                 projects.detail)


async def patch_project(request: web.Request) -> web.Response:
    user = await require_user(request)
    project_id = parse_id(request.match_info["id"], "project")
    body = validate_body(await read_json(request), schema.PROJECT, partial=True)
    client_id = parse_id(body["client_id"], "client", field="client_id") if "client_id" in body else None
    async with db_of(request).transaction() as tx:
        if body.get("status") == "delivered":
            await jobs.lock_owner(tx, user.id)      # first, before any row lock (jobs/quota.py)
        project_owner = await projects.owner_of(tx, project_id, user.scope)
        if project_owner is None:
            raise NotFound("project not found")
        if client_id is not None:
            client_owner = await clients.owner_of(tx, client_id, user.scope)
            if client_owner is None:
                raise NotFound("client_id: client not found", field="client_id")
            if client_owner != project_owner:
                raise ValidationFailed("client_id: the client belongs to another user than the project",
                                       field="client_id")
        contact = await projects.delivery_contact(tx, project_id) if body.get("status") == "delivered" else None
        # No row: a DELETE committed since owner_of found the project.
        if await projects.update(tx, project_id, user.scope, body, client_id=client_id) is None:
            raise NotFound("project not found")
        row = await projects.get(tx, project_id, None)
        if contact is not None and contact["status"] != "delivered":
            await enqueue_delivery_notice(tx, request.app[keys.SETTINGS], project_id, await
                                          projects.delivery_contact(tx, project_id), user.id)
    return json_response(request, projects.detail(row))


async def delete_project(request: web.Request) -> web.Response:
    return await delete_response(request, await require_user(request), projects.delete, "project")
