"""Request bodies: JSON only, bounded in size."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from service.errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType
from service.http.responses import JSON_CONTENT_TYPE
from service.jsonutil import loads

MAX_BODY_BYTES = 8 * 1024 * 1024


async def read_json(request: web.Request) -> Any:
    """The request body as JSON: 415 for another content type, 413 over 8 MiB, 400 if not JSON."""
    if request.content_type != JSON_CONTENT_TYPE:
        raise UnsupportedMediaType("request body must be JSON (Content-Type: application/json)")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"request body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB") from None
    if not raw:
        raise InvalidJson("request body is empty; a JSON object was expected")
    try:
        return loads(raw)
    except ValueError as exc:
        raise InvalidJson(f"request body is not valid JSON: {exc}") from None
