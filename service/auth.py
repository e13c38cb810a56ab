"""Passwords (stdlib scrypt), access tokens, and the current user of a request.

Tokens are 256-bit random strings handed to the client once; the database keeps
only their SHA-256, so a leaked table grants nothing. A token dies at its expiry
or on logout (its row is deleted).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from aiohttp import web

from .db.registry import query
from .errors import Forbidden, Unauthorized
from . import keys

# scrypt cost: n=2**14, r=8 is ~16 MiB and tens of milliseconds per hash.
_N, _R, _P, _DKLEN = 2 ** 14, 8, 1, 32
_SCHEME = "scrypt"

USER_BY_TOKEN = query("users/by_token")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    encode = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"{_SCHEME}${_N}${_R}${_P}${encode(salt)}${encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Verified against when the email is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, password)


async def verify_password_async(password: str, stored: str | None) -> bool:
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(None, verify_password, password, stored or _DUMMY_HASH)
    return ok and stored is not None


def new_token() -> tuple[str, bytes]:
    """(token for the client, digest for the database)."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    full_name: str | None
    is_admin: bool
    created_at: datetime

    def public(self) -> dict:
        return {"id": self.id, "email": self.email, "full_name": self.full_name,
                "is_admin": self.is_admin, "created_at": self.created_at}

    @property
    def scope(self) -> UUID | None:
        """The owner filter for this user's queries: None lets an admin see all."""
        return None if self.is_admin else self.id

    @property
    def scope_name(self) -> str:
        return "admin" if self.is_admin else str(self.id)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def require_user(request: web.Request) -> User:
    """The caller, from the bearer token; looked up once, then cached until the
    token's expiry (logout invalidates the cache on every worker)."""
    user = request.get(keys.USER)
    if user is not None:
        return user
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("authentication required: send Authorization: Bearer <token>")
    if len(token) > 512:
        raise Unauthorized("invalid or expired token")
    # Keyed by the token itself: only the database must never hold it in clear; a
    # process already holds it while it answers. Hashing is left to the miss.
    user = await request.app[keys.CACHE].get_or_load(
        "long", "users", "token|" + token, lambda: _user_by_token(request, token_digest(token)))
    if user.expires_at <= time.time():
        raise Unauthorized("invalid or expired token")
    request[keys.USER] = user.user
    return user.user


@dataclass(frozen=True, slots=True)
class _Session:
    user: User
    expires_at: float   # epoch seconds


async def _user_by_token(request: web.Request, digest: bytes) -> _Session:
    row = await request.app[keys.DB].fetchrow(USER_BY_TOKEN, digest)
    if row is None:
        raise Unauthorized("invalid or expired token")
    fields = dict(row)
    expires_at = fields.pop("expires_at").timestamp()
    return _Session(User(**fields), expires_at)


async def require_admin(request: web.Request) -> User:
    user = await require_user(request)
    if not user.is_admin:
        raise Forbidden("administrator rights required")
    return user
