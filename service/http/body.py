"""Request bodies: JSON only, bounded in size."""
from __future__ import annotations

import asyncio
import gc
from typing import Any

from aiohttp import web

from service import keys
from service.errors import InvalidJson, PayloadTooLarge, RequestTimeout, UnreadableBody, UnsupportedMediaType
from service.http.body_budget import MAX_BODY_BYTES
from service.http.callers import caller_key
from service.http.responses import JSON_CONTENT_TYPE
from service.jsonutil import loads

# Endpoints anyone may call without a token (register, login) take small bodies only:
# nobody should make the service parse megabytes before knowing who they are.
PUBLIC_BODY_BYTES = 16 * 1024
_CHUNK = 64 * 1024
# Content-Encodings a body may come in: those aiohttp's parser decodes (br and zstd only with
# their libraries installed; without, the parser refuses them) and identity. aiohttp passes
# any other value (x-gzip, "gzip, gzip", a typo) and all but the first of several headers through undecoded: the body would be read
# as JSON as sent, or refused with a puzzling parse error.
_CODINGS = frozenset({"identity", "gzip", "deflate", "br", "zstd"})
UNSUPPORTED_CODING = "Content-Encoding must be gzip, deflate or identity"
# The only charset a JSON body may declare (RFC 8259 section 8.1: JSON exchanged between
# systems is UTF-8). Another one was ignored and its bytes read as UTF-8: latin-1's "Ã©" was
# stored as "é", and a UTF-16 body was refused as JSON with a message about surrogates.
_UTF8 = frozenset({"utf-8", "utf8"})
# Arrays and objects a body may open ('[' and '{' bytes, strings included).
MAX_JSON_CONTAINERS = 500_000


def _too_large(limit: int) -> PayloadTooLarge:
    size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
    return PayloadTooLarge(f"request body is over {size}")


def _cause(exc: web.RequestPayloadError) -> str:
    """What the parser said, without echoing request bytes: its exception's class."""
    cause = exc.__cause__ or exc.__context__
    return {"ContentEncodingError": "its Content-Encoding does not decode",
            "TransferEncodingError": "a malformed chunk"}.get(type(cause).__name__, "malformed framing")


async def read_optional_json(request: web.Request) -> Any:
    """The body of a request that may come without one: none, or an empty one, is {}. An
    empty chunked body (no chunks) has a payload to read, where Content-Length: 0 has none:
    it was refused as "request body is empty" while the other was taken as no body."""
    if not request.body_exists:
        return {}
    return await read_json(request, empty={})


async def read_json(request: web.Request, max_bytes: int = MAX_BODY_BYTES, *, empty: Any = None) -> Any:
    """The request body as JSON: 415 for another content type or coding, 413 over max_bytes, 400 if not JSON.

    Read in chunks and refused as soon as it passes the limit, so a chunked body with no
    Content-Length is bounded too; 408 when it does not arrive within REQUEST_BODY_TIMEOUT_S."""
    if request.content_type != JSON_CONTENT_TYPE:
        raise UnsupportedMediaType("request body must be JSON (Content-Type: application/json)")
    charset = request.charset
    if charset is not None and charset.strip().strip('"').lower() not in _UTF8:
        raise UnsupportedMediaType("request body must be UTF-8 (a charset, if given, must be utf-8)",
                                   field="Content-Type")
    codings = request.headers.getall("Content-Encoding", ())
    if len(codings) > 1 or (codings and codings[0] and codings[0].lower() not in _CODINGS):
        raise UnsupportedMediaType(UNSUPPORTED_CODING, field="Content-Encoding")
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    parts: list[bytes] = []
    size = kept = 0
    handed_over = False
    timeout_s = request.app[keys.SETTINGS].request_body_timeout_s
    budget, caller = request.app[keys.BODY_BUDGET], caller_key(request)
    try:
        try:
            async with asyncio.timeout(timeout_s):
                while chunk := await request.content.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(max_bytes)
                    budget.take(caller, len(chunk))     # 429/503 over the body budget (body_budget.py)
                    kept += len(chunk)
                    parts.append(chunk)
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(max_bytes) from None
        except TimeoutError:
            # Bodies are read before any database work: a slow client holds no pool connection.
            raise RequestTimeout(f"the request body did not arrive within {timeout_s:g} s") from None
        except web.RequestPayloadError as exc:
            # aiohttp's parser refused what came after the headers: a malformed chunk, or a
            # gzip/deflate body that does not decompress (aiohttp decodes Content-Encoding).
            # Marked finished, so aiohttp does not try to read the rest of it after our answer
            # (its "lingering" read would meet the same error and log it as unhandled); the
            # answer closes the connection (UnreadableBody.closes_connection).
            request.content.feed_eof()
            raise UnreadableBody(f"the request body could not be read: {_cause(exc)}") from None
        except ConnectionResetError:
            # The client closed the connection before its body was complete (aiohttp fails the
            # read with "Connection lost"). Nobody will read the answer, but the request is the
            # client's doing: a 400 in the access log and metrics, not an unhandled 500 with a
            # traceback (a client cutting uploads short could raise the 5xx alert at will).
            raise UnreadableBody("the request body could not be read: the connection closed before its end") \
                from None
        raw = b"".join(parts)
        parts.clear()
        if not raw:
            if empty is not None:
                return empty
            raise InvalidJson("request body is empty; a JSON object was expected")
        body = _parse(raw)
        # Still counted until the request is answered (the middleware gives them back): the
        # parsed body lives on while the request waits for its caller's share of the database
        # (DB_USER_CONCURRENCY) and runs. Given back here, one user's 8 MiB bulks, sent two at
        # a time, each piled up parsed in that queue: +470 MiB in one worker for 60 of them.
        request.setdefault(keys.BODY_HELD, []).append((caller, kept))
        handed_over = True
        return body
    finally:
        if not handed_over:
            budget.give_back(caller, kept)      # refused: the bytes are freed with this frame


def _parse(raw: bytes) -> Any:
    """JSON, refused before parsing when it would hold more arrays and objects than any
    valid request needs, and parsed with the garbage collector paused: millions of new
    containers made it scan them again and again (an 8 MiB body of empty arrays held the
    event loop 1.5 s, three quarters of it collecting; test_body_limits.py)."""
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_CONTAINERS:
        # Brackets inside strings count too: the bound leaves room for them (a bulk of 1,000
        # posts needs about 10,000 containers).
        raise PayloadTooLarge(f"request body has more than {MAX_JSON_CONTAINERS:,} '[' and '{{' characters")
    collecting = gc.isenabled()
    gc.disable()
    try:
        return loads(raw)
    except ValueError as exc:
        raise InvalidJson(f"request body is not valid JSON: {exc}") from None
    finally:
        if collecting:
            gc.enable()
