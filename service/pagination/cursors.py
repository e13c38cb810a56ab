"""Signed, opaque, URL-safe cursors.

A cursor is base64url(JSON payload) + "." + base64url(HMAC-SHA256(SECRET_KEY)[:16]).
The payload names the list, the order, the direction, the boundary key and a
fingerprint of the caller's scope and filters, so a cursor cannot be replayed on
another list, with other filters, another order, or under another key.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from service.errors import InvalidCursor

VERSION = 1
MAX_CURSOR_LENGTH = 1024
_DOMAIN = b"content-jumpstart/cursor/v1\x00"
# body "." signature, both unpadded base64url: checked before anything is decoded, so
# no other character (non-ASCII included) reaches the HMAC or the base64 decoder.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Cursor:
    resource: str
    order: str               # "desc" | "asc"
    direction: str           # "next": rows after the key; "prev": rows before it
    key: tuple[datetime, UUID] | None   # None: start from the edge of the list
    fingerprint: str


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(_DOMAIN + secret_key.encode()).digest()

    def _sign(self, body: str) -> str:
        return _b64encode(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()[:16])

    def encode(self, cursor: Cursor) -> str:
        payload = {
            "v": VERSION, "r": cursor.resource, "o": cursor.order, "d": cursor.direction,
            "k": None if cursor.key is None else [cursor.key[0].isoformat(), str(cursor.key[1])],
            "f": cursor.fingerprint,
        }
        body = _b64encode(orjson.dumps(payload))
        return f"{body}.{self._sign(body)}"

    def decode(self, token: str) -> Cursor:
        if not token:
            raise InvalidCursor("cursor is empty", field="cursor")
        if len(token) > MAX_CURSOR_LENGTH or not _TOKEN.fullmatch(token):
            raise InvalidCursor("cursor is malformed", field="cursor")
        body, signature = token.split(".")
        if not hmac.compare_digest(self._sign(body), signature):
            raise InvalidCursor("cursor signature does not match: it was altered or issued under another key",
                                field="cursor")
        try:
            payload: dict[str, Any] = orjson.loads(_b64decode(body))
            if payload.get("v") != VERSION:
                raise InvalidCursor("cursor format is not supported by this version", field="cursor")
            key = payload["k"]
            parsed_key = None if key is None else (datetime.fromisoformat(key[0]), UUID(key[1]))
            if parsed_key is not None and parsed_key[0].tzinfo is None:
                raise ValueError("a cursor key's time must carry its time zone")
            cursor = Cursor(payload["r"], payload["o"], payload["d"], parsed_key, payload["f"])
        except InvalidCursor:
            raise
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, binascii.Error, orjson.JSONDecodeError):
            raise InvalidCursor("cursor is malformed", field="cursor") from None
        if cursor.order not in ("asc", "desc") or cursor.direction not in ("next", "prev"):
            raise InvalidCursor("cursor is malformed", field="cursor")
        return cursor


def fingerprint(resource: str, scope: str, filters: dict[str, Any]) -> str:
    """Stable digest of who asks and what the list is filtered by."""
    canonical = orjson.dumps([resource, scope, filters], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canonical).hexdigest()[:16]
