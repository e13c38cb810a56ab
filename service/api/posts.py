"""/api/posts: filtered list, create one or up to 1000 at once, get, patch, delete."""
from __future__ import annotations

from aiohttp import web

from service.api.common import db_of, delete_response, detail_response, list_response, require_visible
from service.auth.guards import require_user
from service.errors import NotFound, ValidationFailed
from service.http.body import read_json
from service.http.responses import json_response
from service.schemas import posts as schema
from service.schemas.validate import parse_id, validate_body, validate_items
from service.store import posts, projects, runs


def word_count(content: str) -> int:
    return len(content.split())


async def list_posts(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_filters(filters: dict) -> dict:
        if filters.get("project_id") is not None:
            await require_visible(request, projects.visible, filters["project_id"], user.scope, "project",
                                  "project_id")
        if filters.get("run_id") is not None:
            await require_visible(request, runs.visible, filters["run_id"], user.scope, "run", "run_id")
        return posts.list_filters(user.scope, **filters)

    return await list_response(request, user, posts.LIST, schema.FILTERS, build_filters)


def _validated_items(body) -> tuple[list[dict], bool]:
    """(posts, bulk?) from `{post}` or `{"items": [post, ...]}`; any bad item rejects all,
    and the problems of every item are listed (items[i].field)."""
    if isinstance(body, dict) and set(body) == {"items"}:
        items = body["items"]
        if not isinstance(items, list) or not items:
            raise ValidationFailed("items: must be a non-empty list of posts", field="items")
        if len(items) > schema.MAX_BULK:
            raise ValidationFailed(f"items: at most {schema.MAX_BULK} posts per request, got {len(items)}", field="items")
        return validate_items(items, schema.POST), True
    return [validate_body(body, schema.POST)], False


def _body_id(raw, field: str, what: str):
    """An id named in a body: a malformed one is 404 like an unknown one, naming the field."""
    try:
        return parse_id(raw, what)
    except NotFound:
        raise NotFound(f"{field}: {what} not found", field=field) from None


def _complete(post: dict, where: str = "") -> dict:
    post["project_id"] = _body_id(post["project_id"], f"{where}project_id", "project")
    post["run_id"] = None if post.get("run_id") is None else _body_id(post["run_id"], f"{where}run_id", "run")
    if post.get("word_count") is None:
        post["word_count"] = word_count(post["content"])
    flags = post.get("flags") or []
    post["flags"] = flags
    if post.get("status") is None:
        post["status"] = "flagged" if flags else "approved"
    if post.get("has_cta") is None:
        post["has_cta"] = False
    return post


async def create_posts(request: web.Request) -> web.Response:
    user = await require_user(request)
    items, bulk = _validated_items(await read_json(request))
    items = [_complete(p, f"items[{i}]." if bulk else "") for i, p in enumerate(items)]
    # One connection, no transaction: the checks only read, and the posts go in with one
    # INSERT (all or none), so BEGIN and COMMIT would add two round trips and no safety.
    async with db_of(request).session() as session:
        # Runs first: a run goes only with its project, so a run deleted before its lookup
        # leaves its project missing from the later one, and the item is 404 (its project
        # check comes first), not 422 "not a run of this project" as the other order answered.
        run_projects = await runs.projects_of(session, list({p["run_id"] for p in items if p["run_id"] is not None}),
                                              user.scope)
        owners = await projects.owners_of(session, list({p["project_id"] for p in items}), user.scope)
        for index, post in enumerate(items):
            where = f"items[{index}]." if bulk else ""
            if post["project_id"] not in owners:
                raise NotFound(f"{where}project_id: project not found", field=f"{where}project_id")
            # Another user's run is named like a missing one (404, contract section 3);
            # a run the caller sees, of another project, is a bad value (422).
            if post["run_id"] is not None and post["run_id"] not in run_projects:
                raise NotFound(f"{where}run_id: run not found", field=f"{where}run_id")
            if post["run_id"] is not None and run_projects[post["run_id"]] != post["project_id"]:
                raise ValidationFailed(f"{where}run_id: not a run of this project", field=f"{where}run_id")
        rows = await posts.insert_many(session, items, owners)
    created = [dict(r) for r in rows]
    return json_response(request, {"items": created} if bulk else created[0], status=201)


async def get_post(request: web.Request) -> web.Response:
    return await detail_response(request, await require_user(request), posts.get, "post", "short")


async def patch_post(request: web.Request) -> web.Response:
    user = await require_user(request)
    post_id = parse_id(request.match_info["id"], "post")
    body = validate_body(await read_json(request), schema.PATCH, partial=True)
    if "content" in body and "word_count" not in body:
        body["word_count"] = word_count(body["content"])
    if body.get("run_id") is not None:
        body["run_id"] = _body_id(body["run_id"], "run_id", "run")
    recount = "word_count" in body and body["word_count"] is None       # null: count the words again
    run_id = body.get("run_id")
    if not recount and run_id is None:
        # Nothing to check against the stored post: one statement, whose WHERE is the
        # visibility check (no row: 404), instead of a transaction of four round trips.
        row = await posts.update(db_of(request), post_id, user.scope, body)
    else:
        async with db_of(request).transaction() as tx:
            # Locked: the recount must count the content the UPDATE keeps.
            current = await posts.lock(tx, post_id, user.scope)
            if current is None:
                raise NotFound("post not found")
            if recount:
                body["word_count"] = word_count(body.get("content") or current["content"])
            if run_id is not None:
                run_projects = await runs.projects_of(tx, [run_id], user.scope)
                if run_id not in run_projects:
                    raise NotFound("run_id: run not found", field="run_id")
                if run_projects[run_id] != current["project_id"]:
                    raise ValidationFailed("run_id: not a run of this post's project", field="run_id")
            row = await posts.update(tx, post_id, user.scope, body)
    if row is None:
        raise NotFound("post not found")
    return json_response(request, dict(row))


async def delete_post(request: web.Request) -> web.Response:
    return await delete_response(request, await require_user(request), posts.delete, "post")
