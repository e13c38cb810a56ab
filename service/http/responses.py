"""JSON responses: bodies, the error envelope (docs/API.md section 3), ETags and 304s."""
from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from service.jsonutil import dumps

JSON_CONTENT_TYPE = "application/json"
PRIVATE_NO_CACHE = "private, no-cache"


def error_response(status: int, code: str, message: str, request_id: str, *,
                   field: str | None = None, headers: dict[str, str] | None = None,
                   errors: list[dict] | None = None, errors_truncated: bool = False) -> web.Response:
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    if field is not None:
        error["field"] = field
    if status in (400, 422):
        # Every problem found (docs/API.md section 9); field and message above name the first.
        error["errors"] = errors if errors is not None else [{"field": field, "message": message}]
        if errors_truncated:
            error["errors_truncated"] = True
    # Like every JSON answer (docs/API.md section 3): an error is per caller and of the moment,
    # never for a cache to keep (a 404 is heuristically cacheable without it).
    headers = {"Cache-Control": PRIVATE_NO_CACHE, **(headers or {})}
    return web.Response(status=status, body=dumps({"error": error, "request_id": request_id}),
                        content_type=JSON_CONTENT_TYPE, headers=headers)


def etag_for(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in candidates


def json_response(request: web.Request, data: Any = None, *, status: int = 200, body: bytes | None = None,
                  etag: str | None = None) -> web.Response:
    """A JSON response; GETs carry an ETag and answer 304 to a matching If-None-Match."""
    if body is None:
        body = dumps(data)
    headers = {"Cache-Control": PRIVATE_NO_CACHE}
    if request.method in ("GET", "HEAD") and status == 200:
        etag = etag or etag_for(body)
        headers["ETag"] = etag
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
    return web.Response(status=status, body=body, content_type=JSON_CONTENT_TYPE, headers=headers)


def no_content() -> web.Response:
    return web.Response(status=204)


