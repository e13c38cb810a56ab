"""Users and their access tokens: sql/users/."""
from __future__ import annotations

from uuid import UUID

import asyncpg

from service.db.registry import query

ANY_EXISTS = query("users/any_exists")
BY_EMAIL = query("users/by_email")
BY_TOKEN = query("users/by_token")
DELETE_EXPIRED_TOKENS = query("users/delete_expired_tokens")
DELETE_TOKEN = query("users/delete_token")
FIRST_ADMIN = query("users/first_admin")
FOR_LOGIN = query("users/for_login")
INSERT = query("users/insert")
INSERT_TOKEN = query("users/insert_token")
TRIM_TOKENS = query("users/trim_tokens")
UPDATE_PASSWORD_HASH = query("users/update_password_hash")


async def insert(db, *, email: str, password_hash: str, full_name: str | None,
                 is_admin: bool) -> asyncpg.Record:
    """The new user; asyncpg.UniqueViolationError when the email (any case) is taken."""
    return await db.fetchrow(INSERT, email=email, password_hash=password_hash, full_name=full_name,
                             is_admin=is_admin)


async def any_exists(db) -> bool:
    return bool(await db.fetchval(ANY_EXISTS))


async def id_by_email(db, email: str) -> UUID | None:
    return await db.fetchval(BY_EMAIL, email=email)


async def first_admin_id(db) -> UUID | None:
    row = await db.fetchrow(FIRST_ADMIN)
    return None if row is None else row["id"]


async def for_login(db, email: str) -> asyncpg.Record | None:
    """The user with this email (any case: the database's lower(), as the unique index
    compares; pass the NFKC form, not a Python-lowered one) and their password hash."""
    return await db.fetchrow(FOR_LOGIN, email=email)


async def by_token(db, token_hash: bytes) -> asyncpg.Record | None:
    """The user behind a live token, with the token's expires_at."""
    return await db.fetchrow(BY_TOKEN, token_hash=token_hash)


async def insert_token(db, *, token_hash: bytes, user_id: UUID, ttl_hours: int) -> asyncpg.Record:
    """Store a token's hash: (expires_at, tokens: how many the user holds with it)."""
    return await db.fetchrow(INSERT_TOKEN, token_hash=token_hash, user_id=user_id, ttl_hours=ttl_hours)


async def trim_tokens(db, *, user_id: UUID, keep: int) -> int:
    """Revoke the user's tokens but the newest `keep`; how many were revoked."""
    status = await db.execute(TRIM_TOKENS, user_id=user_id, keep=keep)
    return int(status.rsplit(" ", 1)[-1])


async def delete_token(db, token_hash: bytes) -> None:
    await db.execute(DELETE_TOKEN, token_hash=token_hash)


async def delete_expired_tokens(db) -> int:
    """How many expired tokens were deleted."""
    status = await db.execute(DELETE_EXPIRED_TOKENS)
    return int(status.rsplit(" ", 1)[-1])


async def update_password_hash(db, *, user_id: UUID, old_hash: str, new_hash: str) -> bool:
    """Replace the hash just verified (re-hash on login); False when it changed meanwhile."""
    return await db.fetchval(UPDATE_PASSWORD_HASH, user_id=user_id, old_hash=old_hash, new_hash=new_hash) is not None
