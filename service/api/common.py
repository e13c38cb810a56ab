"""Helpers shared by the resource handlers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence
from urllib.parse import urlencode

from aiohttp import web

from .. import keys
from ..auth import User
from ..cursors import fingerprint
from ..db.database import Database
from ..errors import NotFound
from ..pagination import PAGE_PARAMETERS, ListQueries, parse_page_request
from ..db.registry import Query
from ..validation import Field, parse_id, parse_query
from ..jsonutil import dumps
from ..web import etag_for, json_response, no_content


def db_of(request: web.Request) -> Database:
    return request.app[keys.DB]


@dataclass(frozen=True, slots=True)
class CachedBody:
    """A finished JSON answer: the hit path sends these bytes and ETag as they are."""
    body: bytes
    etag: str


_canonical: dict[str, str] = {}
_CANONICAL_MAX = 4096


def canonical_query(request: web.Request) -> str:
    """Every query parameter, order-independent (part of a cache key).

    Memoised by the raw query string: parsing, sorting and re-encoding it was a
    visible share of a cache hit."""
    raw = request.query_string
    canonical = _canonical.get(raw)
    if canonical is None:
        if len(_canonical) >= _CANONICAL_MAX:
            _canonical.clear()
        canonical = _canonical[raw] = urlencode(sorted(request.query.items()))
    return canonical


async def cached_json(request: web.Request, tier: str, namespace: str, key: str,
                      load: Callable[[], Awaitable[Any]]) -> web.Response:
    """Answer a GET from the cache, or load, serialize and cache it.

    The key must carry everything that shapes the answer except the namespace; the
    caller's scope is added here, so no answer crosses users.
    """
    async def load_body() -> CachedBody:
        body = dumps(await load())
        return CachedBody(body, etag_for(body))

    user = request[keys.USER]
    cached = await request.app[keys.CACHE].get_or_load(tier, namespace, f"{user.scope_name}|{key}", load_body)
    return json_response(request, body=cached.body, etag=cached.etag)


async def detail_response(request: web.Request, user: User, get: Query, what: str, tier: str,
                          serialize: Callable[[Any], dict] = dict) -> web.Response:
    """GET /api/<resource>/{id}: the caller's object (404 otherwise), through the cache."""
    object_id = parse_id(request.match_info["id"], what)

    async def load() -> dict:
        row = await db_of(request).fetchrow(get, object_id, user.scope)
        if row is None:
            raise NotFound(f"{what} not found")
        return serialize(row)

    return await cached_json(request, tier, f"{what}s", f"get|{object_id}", load)


async def delete_response(request: web.Request, user: User, delete: Query, what: str) -> web.Response:
    """DELETE /api/<resource>/{id}: 204, or 404 when the caller has no such object."""
    deleted = await db_of(request).fetchrow(delete, parse_id(request.match_info["id"], what), user.scope)
    if deleted is None:
        raise NotFound(f"{what} not found")
    return no_content()


async def list_response(request: web.Request, user: User, lq: ListQueries, filter_spec: Mapping[str, Field],
                        build_args, serialize=dict, tier: str = "short") -> web.Response:
    """Parse filters and paging, check them, run the hybrid paginator, answer JSON (cached).

    `build_args(filters)` is a coroutine: it checks that named parents are visible
    (404 otherwise) and returns the SQL arguments in the order of the list's filter
    block, $1 being the caller's scope.
    """
    async def load() -> dict:
        filters = parse_query(request.query, filter_spec, also_allowed=PAGE_PARAMETERS)
        page_request = parse_page_request(request.query, request.app[keys.SETTINGS])
        args: Sequence[Any] = await build_args(filters)
        list_fingerprint = fingerprint(lq.resource, user.scope_name, filters)
        return await request.app[keys.PAGINATOR].page(lq, args, list_fingerprint, page_request, serialize)

    return await cached_json(request, tier, lq.resource, "list|" + canonical_query(request), load)


async def require_visible(request: web.Request, check, object_id, scope, what: str) -> None:
    """404 unless the caller may see the object a filter or body names."""
    if not await db_of(request).fetchval(check, object_id, scope):
        raise NotFound(f"{what} not found")
