"""Access tokens: 256-bit random strings handed to the client once.

The database keeps only their SHA-256, so a leaked table grants nothing. A token
dies at its expiry or on logout (its row is deleted).
"""
from __future__ import annotations

import hashlib
import re
import secrets

from aiohttp import web

# Tokens one account may hold (live or not yet purged): successful logins are not
# throttled, so without a bound one client logging in in a loop grows access_tokens
# without end until the TTL. A login that makes more revokes the oldest, keeping the
# newest TOKENS_KEPT. The gap makes the revocation (a DELETE, which drops every cached
# token lookup through NOTIFY) one login in ten at most, even for a client that loops.
MAX_TOKENS_PER_USER = 110
TOKENS_KEPT = 100


def new_token() -> tuple[str, bytes]:
    """(token for the client, digest for the database)."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# What a token can look like: printable ASCII, bounded. Anything else (a non-UTF-8 byte
# arrives as a lone surrogate, which cannot even be hashed) is no token of ours.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]{1,512}")


def bearer_token(request: web.Request) -> str | None:
    """The bearer token of the Authorization header, or None when there is none of a valid shape."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _TOKEN_SHAPE.fullmatch(token):
        return None
    return token
