"""Helpers shared by the resource handlers."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from aiohttp import web

from service import keys
from service.auth.user import User
from service.cache.response_cache import LISTS
from service.db.database import Database
from service.errors import NotFound
from service.http.responses import etag_for, json_response, no_content
from service.jsonutil import dumps
from service.pagination.cursors import fingerprint
from service.pagination.page_request import PAGE_PARAMETERS, parse_page_request
from service.pagination.paginator import ListQueries
from service.schemas.validate import parse_id, parse_query


def db_of(request: web.Request) -> Database:
    return request.app[keys.DB]


@dataclass(frozen=True, slots=True)
class CachedBody:
    """A finished JSON answer: the hit path sends these bytes and ETag as they are."""
    body: bytes
    etag: str

    @property
    def nbytes(self) -> int:
        return len(self.body) + len(self.etag) + 64


_canonical: dict[str, str] = {}
_CANONICAL_MAX = 4096
# Only query strings up to this long are memoised: the memo stays under about 4096 x
# (512 + 3 x 512) characters (re-encoding can triple a string: %ff becomes %EF%BF%BD),
# whatever callers send, refused or not. Longer ones are rare and re-encoded each time.
_CANONICAL_MEMO_CHARS = 512


def canonical_query(request: web.Request) -> str:
    """Every query parameter, order-independent (part of a cache key).

    Memoised by the query string as sent: parsing, sorting and re-encoding it was a
    visible share of a cache hit. Not by `request.query_string`, which yarl has partly
    decoded (`%25` becomes `%`, `%26` stays): `search=a%26b` ("a&b") and `search=a%2526b`
    ("a%26b") would share one entry and answer each other's posts."""
    raw = request.rel_url.raw_query_string
    canonical = _canonical.get(raw)
    if canonical is None:
        canonical = urlencode(sorted(request.query.items()))
        if len(raw) <= _CANONICAL_MEMO_CHARS:
            if len(_canonical) >= _CANONICAL_MAX:
                _canonical.clear()
            _canonical[raw] = canonical
    return canonical


async def cached_json(request: web.Request, tier: str, namespace: str, key: str,
                      load: Callable[[], Awaitable[Any]], item: str = LISTS) -> web.Response:
    """Answer a GET from the cache, or load, serialize and cache it.

    The key must carry everything that shapes the answer except the namespace; the
    caller's scope is added here, so no answer crosses users. `item`: the id of the one
    row the answer shows (a detail; a write to another row keeps it), else LISTS.
    """
    async def load_body() -> CachedBody:
        body = dumps(await load())
        return CachedBody(body, etag_for(body))

    user = request[keys.USER]
    cached = await request.app[keys.CACHE].get_or_load(tier, namespace, key, load_body, scope=user.scope_name,
                                                    item=item)
    return json_response(request, body=cached.body, etag=cached.etag)


# get(db, object_id, owner_id) -> the row, or None when the caller has no such object
GetOne = Callable[[Database, UUID, "UUID | None"], Awaitable[Any]]
# delete(db, object_id, owner_id) -> whether it was there to delete
DeleteOne = Callable[[Database, UUID, "UUID | None"], Awaitable[bool]]


async def detail_response(request: web.Request, user: User, get: GetOne, what: str, tier: str,
                          serialize: Callable[[Any], dict] = dict) -> web.Response:
    """GET /api/<resource>/{id}: the caller's object (404 otherwise), through the cache."""
    object_id = parse_id(request.match_info["id"], what)

    async def load() -> dict:
        row = await get(db_of(request), object_id, user.scope)
        if row is None:
            raise NotFound(f"{what} not found")
        return serialize(row)

    return await cached_json(request, tier, f"{what}s", f"get|{object_id}", load, item=str(object_id))


async def delete_response(request: web.Request, user: User, delete: DeleteOne, what: str) -> web.Response:
    """DELETE /api/<resource>/{id}: 204, or 404 when the caller has no such object."""
    if not await delete(db_of(request), parse_id(request.match_info["id"], what), user.scope):
        raise NotFound(f"{what} not found")
    return no_content()


async def list_response(request: web.Request, user: User, lq: ListQueries, filter_spec: type,
                        build_filters, serialize=dict, tier: str | None = "short") -> web.Response:
    """Parse filters and paging, check them, run the hybrid paginator, answer JSON (cached).

    `build_filters(filters)` is a coroutine: it checks that named parents are visible
    (404 otherwise) and returns the store's filter block for the list
    (`store.<resource>.list_filters`). `tier=None`: never cached (jobs).
    """
    async def load() -> dict:
        filters = parse_query(request.query, filter_spec, also_allowed=PAGE_PARAMETERS)
        page_request = parse_page_request(request.query, request.app[keys.SETTINGS])
        sql_filters = await build_filters(filters)
        list_fingerprint = fingerprint(lq.resource, user.scope_name, filters)
        return await request.app[keys.PAGINATOR].page(lq, sql_filters, list_fingerprint, page_request, serialize)

    if tier is None:
        return json_response(request, await load())
    return await cached_json(request, tier, lq.resource, "list|" + canonical_query(request), load)


# visible(db, object_id, owner_id) -> whether the caller may see it
Visible = Callable[[Database, UUID, "UUID | None"], Awaitable[bool]]


async def require_visible(request: web.Request, visible: Visible, object_id: UUID, owner_id: UUID | None,
                          what: str, field: str) -> None:
    """404 naming `field` unless the caller may see the object that filter or body field names."""
    if not await visible(db_of(request), object_id, owner_id):
        raise NotFound(f"{field}: {what} not found", field=field)
