"""Access tokens: 256-bit random strings handed to the client once.

The database keeps only their SHA-256, so a leaked table grants nothing. A token
dies at its expiry or on logout (its row is deleted).
"""
from __future__ import annotations

import hashlib
import secrets

from aiohttp import web


def new_token() -> tuple[str, bytes]:
    """(token for the client, digest for the database)."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
