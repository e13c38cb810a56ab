"""Request guards: the current user from the bearer token, the admin check, and the
METRICS_TOKEN check for scrapers."""
from __future__ import annotations

import hmac
import sys
import time
from dataclasses import dataclass

from aiohttp import web

from service import keys
from service.auth.tokens import bearer_token, token_digest
from service.auth.user import User
from service.context import current_request
from service.errors import Forbidden, Unauthorized
from service.store import users


async def require_user(request: web.Request) -> User:
    """The caller, from the bearer token; looked up once, then cached until the
    token's expiry (checked on every hit) while the invalidation feed is up, whatever
    CACHE_ENABLED says (AUTH_CACHE_ENABLED, README "Cache"). Logout, a user's deletion
    or changed admin flag NOTIFY (migration 0010), which drops the entries on every
    worker and instance; with the feed down every request asks the database."""
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
        "long", "users", "token|" + token, lambda: _user_by_token(request, token_digest(token)), answer=False)
    if user.expires_at <= time.time():
        raise Unauthorized("invalid or expired token")
    request[keys.USER] = user.user
    ctx = current_request.get()
    if ctx is not None:
        ctx.user_id = str(user.user.id)
    return user.user


@dataclass(frozen=True, slots=True)
class _Session:
    user: User
    expires_at: float   # epoch seconds

    @property
    def nbytes(self) -> int:
        """What this cached lookup holds, for CACHE_MAX_BYTES: its strings as stored (a
        name of 200 non-ASCII characters takes up to 800 bytes) and ~300 bytes of objects
        (the session, the user, its id and creation time). Without it every lookup counted
        as 256 bytes, up to 1,500 with a long email and name."""
        return 300 + sys.getsizeof(self.user.email) + sys.getsizeof(self.user.full_name)


async def _user_by_token(request: web.Request, digest: bytes) -> _Session:
    row = await users.by_token(request.app[keys.DB], digest)
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


def _is_metrics_token(request: web.Request) -> bool:
    expected = request.app[keys.SETTINGS].metrics_token
    if expected is None:
        return False
    given = bearer_token(request)
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_metrics(request: web.Request) -> None:
    """GET /metrics: open while METRICS_TOKEN is unset; then only that bearer token."""
    if request.app[keys.SETTINGS].metrics_token is not None and not _is_metrics_token(request):
        raise Unauthorized("metrics need Authorization: Bearer <METRICS_TOKEN>")


async def require_admin_or_metrics(request: web.Request) -> User | None:
    """Read-only admin health: an admin's token, or METRICS_TOKEN (a scraper: None)."""
    if _is_metrics_token(request):
        return None
    return await require_admin(request)
