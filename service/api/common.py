"""Helpers shared by the resource handlers."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from aiohttp import web

from .. import keys
from ..auth import User
from ..cursors import fingerprint
from ..db.database import Database
from ..errors import NotFound
from ..pagination import PAGE_PARAMETERS, ListQueries, parse_page_request
from ..validation import Field, parse_query
from ..web import json_response


def db_of(request: web.Request) -> Database:
    return request.app[keys.DB]


async def list_response(request: web.Request, user: User, lq: ListQueries, filter_spec: Mapping[str, Field],
                        build_args, serialize=dict) -> web.Response:
    """Parse filters and paging, check them, run the hybrid paginator, answer JSON.

    `build_args(filters)` is a coroutine: it checks that named parents are visible
    (404 otherwise) and returns the SQL arguments in the order of the list's filter
    block, $1 being the caller's scope.
    """
    filters = parse_query(request.query, filter_spec, also_allowed=PAGE_PARAMETERS)
    page_request = parse_page_request(request.query, request.app[keys.SETTINGS])
    args: Sequence[Any] = await build_args(filters)
    list_fingerprint = fingerprint(lq.resource, user.scope_name, filters)
    result = await request.app[keys.PAGINATOR].page(lq, args, list_fingerprint, page_request, serialize)
    return json_response(request, result)


async def require_visible(request: web.Request, check, object_id, scope, what: str) -> None:
    """404 unless the caller may see the object a filter or body names."""
    if not await db_of(request).fetchval(check, object_id, scope):
        raise NotFound(f"{what} not found")
