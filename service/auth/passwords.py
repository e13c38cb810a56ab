"""Password hashes (stdlib scrypt), computed off the event loop."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

# scrypt cost: n=2**14, r=8 is ~16 MiB and tens of milliseconds per hash.
_N, _R, _P, _DKLEN = 2 ** 14, 8, 1, 32
_SCHEME = "scrypt"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)

    def encode(raw: bytes) -> str:
        return base64.b64encode(raw).decode()
    return f"{_SCHEME}${_N}${_R}${_P}${encode(salt)}${encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Verified against when the email is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, password)


async def verify_password_async(password: str, stored: str | None) -> bool:
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(None, verify_password, password, stored or _DUMMY_HASH)
    return ok and stored is not None
