"""/api/posts: filtered list, create one or up to 1000 at once, get, patch, delete."""
from __future__ import annotations

import orjson
from aiohttp import web

from ..auth import require_user
from ..db.registry import query
from ..errors import NotFound, ValidationFailed
from ..pagination import list_queries
from ..validation import Field, like_pattern, parse_id, validate_body
from ..web import json_response, read_json
from .common import db_of, delete_response, detail_response, list_response, require_visible

POSTS = list_queries("posts")
GET = query("posts/get")
INSERT_MANY = query("posts/insert_many")
UPDATE = query("posts/update")
DELETE = query("posts/delete")
PROJECT_OWNERS = query("projects/owners_of")
RUN_PROJECTS = query("runs/projects_of")
PROJECT_VISIBLE = query("projects/visible")
RUN_VISIBLE = query("runs/visible")

MAX_BULK = 1000
STATUSES = ("approved", "flagged")
PLATFORMS = ("linkedin", "twitter", "facebook", "blog")
SCHEMA = {
    "project_id": Field("id", required=True, nullable=False),
    "run_id": Field("id"),
    "content": Field("text", required=True, nullable=False, min_length=1, max_length=100000),
    "template_id": Field("text", max_length=200),
    "template_name": Field("text", max_length=200),
    "variant": Field("int", minimum=0, maximum=1_000_000),
    "word_count": Field("int", minimum=0, maximum=1_000_000),
    "readability_score": Field("number", minimum=0, maximum=100),
    "has_cta": Field("bool", nullable=False),
    "status": Field("text", nullable=False, choices=STATUSES),
    "flags": Field("text_list", max_length=200, max_items=50),
    "target_platform": Field("text", choices=PLATFORMS),
}
PATCH = {name: spec for name, spec in SCHEMA.items() if name != "project_id"}
PATCH["content"] = Field("text", nullable=False, min_length=1, max_length=100000)
# Column order of posts/update.sql after $1 id, $2 owner, $3 given.
PATCH_FIELDS = ["content", "template_id", "template_name", "variant", "word_count", "readability_score",
                "has_cta", "status", "flags", "target_platform", "run_id"]
FILTERS = {
    "project_id": Field("id"),
    "run_id": Field("id"),
    "status": Field("text", choices=STATUSES),
    "platform": Field("text", choices=PLATFORMS),
    "has_cta": Field("bool"),
    "template_name": Field("text", max_length=200),
    "needs_review": Field("bool"),
    "search": Field("text", max_length=200),
    # word_count is a PostgreSQL integer: a larger bound would fail in the driver, not here.
    "min_word_count": Field("int", minimum=0, maximum=2**31 - 1),
    "max_word_count": Field("int", minimum=0, maximum=2**31 - 1),
    "min_readability": Field("number", minimum=0, maximum=100),
    "max_readability": Field("number", minimum=0, maximum=100),
}


def word_count(content: str) -> int:
    return len(content.split())


async def list_posts(request: web.Request) -> web.Response:
    user = await require_user(request)

    async def build_args(f):
        if f.get("project_id") is not None:
            await require_visible(request, PROJECT_VISIBLE, f["project_id"], user.scope, "project")
        if f.get("run_id") is not None:
            await require_visible(request, RUN_VISIBLE, f["run_id"], user.scope, "run")
        return (user.scope, f.get("project_id"), f.get("run_id"), f.get("status"), f.get("platform"),
                f.get("has_cta"), like_pattern(f.get("template_name")), f.get("needs_review"),
                like_pattern(f.get("search")), f.get("min_word_count"), f.get("max_word_count"),
                f.get("min_readability"), f.get("max_readability"))

    return await list_response(request, user, POSTS, FILTERS, build_args)


def _validated_items(body) -> tuple[list[dict], bool]:
    """(posts, bulk?) from `{post}` or `{"items": [post, ...]}`; any bad item rejects all."""
    if isinstance(body, dict) and set(body) == {"items"}:
        items = body["items"]
        if not isinstance(items, list) or not items:
            raise ValidationFailed("items: must be a non-empty list of posts", field="items")
        if len(items) > MAX_BULK:
            raise ValidationFailed(f"items: at most {MAX_BULK} posts per request, got {len(items)}", field="items")
        posts = []
        for index, item in enumerate(items):
            try:
                posts.append(validate_body(item, SCHEMA))
            except ValidationFailed as exc:
                raise ValidationFailed(f"items[{index}].{exc.message}", field=f"items[{index}].{exc.field or ''}".rstrip(".")) from None
        return posts, True
    return [validate_body(body, SCHEMA)], False


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
    posts, bulk = _validated_items(await read_json(request))
    posts = [_complete(p, f"items[{i}]." if bulk else "") for i, p in enumerate(posts)]
    async with db_of(request).transaction() as tx:
        owners = {r["id"]: r["owner_id"] for r in
                  await tx.fetch(PROJECT_OWNERS, list({p["project_id"] for p in posts}), user.scope)}
        run_ids = list({p["run_id"] for p in posts if p["run_id"] is not None})
        run_projects = {r["id"]: r["project_id"] for r in await tx.fetch(RUN_PROJECTS, run_ids)} if run_ids else {}
        for index, post in enumerate(posts):
            where = f"items[{index}]." if bulk else ""
            if post["project_id"] not in owners:
                raise NotFound(f"{where}project_id: project not found", field=f"{where}project_id")
            if post["run_id"] is not None and run_projects.get(post["run_id"]) != post["project_id"]:
                raise ValidationFailed(f"{where}run_id: not a run of this project", field=f"{where}run_id")
        columns = ("project_id", "run_id", "content", "template_id", "template_name", "variant", "word_count",
                   "readability_score", "has_cta", "status")
        rows = await tx.fetch(
            INSERT_MANY, [owners[p["project_id"]] for p in posts], *([p.get(c) for p in posts] for c in columns),
            [orjson.dumps(p["flags"]).decode() for p in posts], [p.get("target_platform") for p in posts])
    items = [dict(r) for r in rows]
    return json_response(request, {"items": items} if bulk else items[0], status=201)


async def get_post(request: web.Request) -> web.Response:
    return await detail_response(request, await require_user(request), GET, "post", "short")


async def patch_post(request: web.Request) -> web.Response:
    user = await require_user(request)
    post_id = parse_id(request.match_info["id"], "post")
    body = validate_body(await read_json(request), PATCH, partial=True)
    if "content" in body and "word_count" not in body:
        body["word_count"] = word_count(body["content"])
    if body.get("run_id") is not None:
        body["run_id"] = parse_id(body["run_id"], "run")
    async with db_of(request).transaction() as tx:
        current = await tx.fetchrow(GET, post_id, user.scope)
        if current is None:
            raise NotFound("post not found")
        if body.get("run_id") is not None:
            runs = await tx.fetch(RUN_PROJECTS, [body["run_id"]])
            if not runs or runs[0]["project_id"] != current["project_id"]:
                raise ValidationFailed("run_id: not a run of this post's project", field="run_id")
        row = await tx.fetchrow(UPDATE, post_id, user.scope, list(body), *(body.get(f) for f in PATCH_FIELDS))
    return json_response(request, dict(row))


async def delete_post(request: web.Request) -> web.Response:
    return await delete_response(request, await require_user(request), DELETE, "post")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/posts", list_posts)
    app.router.add_post("/api/posts", create_posts)
    app.router.add_get("/api/posts/{id}", get_post)
    app.router.add_patch("/api/posts/{id}", patch_post)
    app.router.add_delete("/api/posts/{id}", delete_post)
