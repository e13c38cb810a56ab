"""POST /api/auth/register, /login, /logout; GET /api/auth/me."""
from __future__ import annotations

import asyncpg
from aiohttp import web

from .. import keys
from ..auth import (User, bearer_token, hash_password_async, new_token, require_user, token_digest,
                    verify_password_async)
from ..db.registry import query
from ..errors import Conflict, Unauthorized
from ..validation import Field, validate_body
from ..web import json_response, no_content, read_json
from .common import db_of

INSERT_USER = query("users/insert")
FOR_LOGIN = query("users/for_login")
INSERT_TOKEN = query("users/insert_token")
DELETE_TOKEN = query("users/delete_token")

REGISTER = {
    "email": Field("email", required=True, max_length=254),
    "password": Field("text", required=True, min_length=8, max_length=1024),
    "full_name": Field("text", max_length=200),
    # Accepted and ignored: nobody makes themselves an admin by asking.
    "is_admin": Field("bool"),
}
LOGIN = {
    "email": Field("text", required=True, max_length=254),
    "password": Field("text", required=True, max_length=1024),
}


async def create_user(db, email: str, password: str, full_name: str | None, is_admin: bool) -> User:
    """Insert a user (shared by register and `run.py create-user`); 409 on a taken email."""
    password_hash = await hash_password_async(password)
    try:
        row = await db.fetchrow(INSERT_USER, email, password_hash, full_name, is_admin)
    except asyncpg.UniqueViolationError:
        raise Conflict("a user with this email already exists", field="email") from None
    return User(**dict(row))


async def register(request: web.Request) -> web.Response:
    body = validate_body(await read_json(request), REGISTER)
    user = await create_user(db_of(request), body["email"], body["password"], body.get("full_name"), False)
    return json_response(request, user.public(), status=201)


async def login(request: web.Request) -> web.Response:
    body = validate_body(await read_json(request), LOGIN)
    db = db_of(request)
    row = await db.fetchrow(FOR_LOGIN, body["email"].strip())
    # One answer for a wrong password and an unknown email, after the same work.
    if not await verify_password_async(body["password"], row["password_hash"] if row else None):
        raise Unauthorized("email or password is wrong")
    user = User(**{k: row[k] for k in ("id", "email", "full_name", "is_admin", "created_at")})
    token, digest = new_token()
    expires_at = await db.fetchval(INSERT_TOKEN, digest, user.id, request.app[keys.SETTINGS].token_ttl_hours)
    return json_response(request, {"access_token": token, "token_type": "bearer",
                                   "expires_at": expires_at, "user": user.public()})


async def logout(request: web.Request) -> web.Response:
    await require_user(request)
    await db_of(request).execute(DELETE_TOKEN, token_digest(bearer_token(request) or ""))
    return no_content()


async def me(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(request, user.public())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/auth/register", register)
    app.router.add_post("/api/auth/login", login)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_get("/api/auth/me", me)
