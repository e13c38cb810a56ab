"""POST /api/auth/register, /login, /logout; GET /api/auth/me."""
from __future__ import annotations

import asyncpg
from aiohttp import web

from service import keys
from service.api.common import db_of
from service.auth import passwords, throttle
from service.auth.guards import require_user
from service.auth.passwords import hash_password_async, verify_password_async
from service.auth.tokens import MAX_TOKENS_PER_USER, TOKENS_KEPT, bearer_token, new_token, token_digest
from service.auth.user import User
from service.errors import Conflict, Unauthorized, ValidationFailed
from service.http.body import PUBLIC_BODY_BYTES, read_json
from service.http.responses import json_response, no_content
from service.schemas import users as schema
from service.schemas.types import EMAIL_TOO_LONG, MAX_EMAIL_LENGTH
from service.schemas.validate import validate_body
from service.store import users


async def create_user(db, email: str, password: str, full_name: str | None, is_admin: bool) -> User:
    """Insert a user (shared by register and `run.py create-user`); 409 on a taken email."""
    password_hash = await hash_password_async(password)
    try:
        row = await users.insert(db, email=email, password_hash=password_hash, full_name=full_name,
                                 is_admin=is_admin)
    except asyncpg.UniqueViolationError:
        raise Conflict("a user with this email already exists", field="email") from None
    return User(**dict(row))


async def register(request: web.Request) -> web.Response:
    body = validate_body(await read_json(request, PUBLIC_BODY_BYTES), schema.REGISTER)
    db, settings = db_of(request), request.app[keys.SETTINGS]
    address = throttle.client_address(request)
    # A place on the hashing pool first (refused at once, in memory, when the address
    # or the pool is full), then the cap per address (recorded, then counted), then the hash.
    with passwords.work_for(settings).admit(address):
        await throttle.register_attempt(db, settings, address)
        user = await create_user(db, body["email"], body["password"], body.get("full_name"), False)
    return json_response(request, user.public(), status=201)


async def login(request: web.Request) -> web.Response:
    body = validate_body(await read_json(request, PUBLIC_BODY_BYTES), schema.LOGIN)
    db, settings = db_of(request), request.app[keys.SETTINGS]
    email, address = throttle.normalize_email(body["email"]), throttle.client_address(request)
    if len(email) > MAX_EMAIL_LENGTH:
        # No account has such an email (register refuses it): refused as register refuses it,
        # before any query or hashing, so it costs nothing and reveals nothing.
        raise ValidationFailed(f"email: {EMAIL_TOO_LONG}", field="email",
                               errors=[{"field": "email", "message": EMAIL_TOO_LONG}])
    # A place on the hashing pool (in memory, refused at once beyond it), then the throttle:
    # the attempt is recorded as a failure and counted before any hashing, so a burst of
    # any size hashes at most LOGIN_MAX_FAILURES times; a throttled one costs no CPU.
    with passwords.work_for(settings).admit(address):
        await throttle.attempt(db, settings, email, address)
        row = await users.for_login(db, email)
        stored = row["password_hash"] if row else None
        # One answer for a wrong password and an unknown email, after the same work.
        verified = await verify_password_async(body["password"], stored)
        if not verified.ok:
            raise Unauthorized("email or password is wrong")       # the recorded attempt is the failure
        await throttle.succeeded(db, email)
        user = User(**{k: row[k] for k in ("id", "email", "full_name", "is_admin", "created_at")})
        if verified.needs_rehash:      # an older scheme (scrypt): store argon2id of the same password
            await users.update_password_hash(db, user_id=user.id, old_hash=stored,
                                             new_hash=await hash_password_async(body["password"]))
    token, digest = new_token()
    try:
        stored = await users.insert_token(db, token_hash=digest, user_id=user.id,
                                          ttl_hours=settings.token_ttl_hours)
    except Conflict:
        # The account was deleted after its password was checked (the token's foreign key
        # failed): answered as an unknown account, never 409, which would say it existed.
        raise Unauthorized("email or password is wrong") from None
    if stored["tokens"] > MAX_TOKENS_PER_USER:
        await users.trim_tokens(db, user_id=user.id, keep=TOKENS_KEPT)
        # Revoked here and now: this worker drops them before answering, as logout does;
        # the others on the delete's NOTIFY.
        await request.app[keys.CACHE].invalidate(("users",))
    response = json_response(request, {"access_token": token, "token_type": "bearer",
                                       "expires_at": stored["expires_at"], "user": user.public()})
    # It carries a credential: never stored by any cache, the browser's own included
    # (no-cache would only ask to revalidate; RFC 6749 section 5.1).
    response.headers["Cache-Control"] = "no-store"
    return response


async def logout(request: web.Request) -> web.Response:
    await require_user(request)
    await users.delete_token(db_of(request), token_digest(bearer_token(request) or ""))
    return no_content()


async def me(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(request, user.public())
