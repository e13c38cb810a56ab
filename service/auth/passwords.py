"""Password hashes: argon2id for new ones; older scrypt hashes still verify and are
flagged for re-hashing. Computed off the event loop.

argon2id with OWASP's first recommended parameters (m = 19 MiB, t = 2, p = 1), about
20-40 ms per hash here. The scrypt hashes written before (`scrypt$n$r$p$salt$hash`,
stdlib, n = 2**14, r = 8) verify as before; `verify` then says the hash needs
replacing, and login stores an argon2id hash of the same password.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet: argon2id, m=19456 KiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_ARGON2ID = "$argon2id$"
_SCRYPT = "scrypt"
_SCRYPT_DKLEN = 32


class Verified(NamedTuple):
    ok: bool
    needs_rehash: bool    # ok, but stored with an older scheme or weaker parameters


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> Verified:
    if stored.startswith(_ARGON2ID):
        try:
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return Verified(False, False)
        return Verified(True, _HASHER.check_needs_rehash(stored))
    return Verified(_verify_scrypt(password, stored), True)


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCRYPT:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=_SCRYPT_DKLEN, maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Verified against when the email is unknown, so a miss costs what a hit costs.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, password)


async def verify_password_async(password: str, stored: str | None) -> Verified:
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, verify_password, password, stored or _DUMMY_HASH)
    return result if stored is not None else Verified(False, False)
