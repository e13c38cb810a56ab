"""Login attempts, for throttling: sql/login_failures/."""
from __future__ import annotations

from service.db.registry import query

CLEAR_EMAIL = query("login_failures/clear_email")
RECORD = query("login_failures/record")
RETRY_AFTER = query("login_failures/retry_after")
WITHDRAW = query("login_failures/withdraw")


async def retry_after(db, *, email_normalized: str, address: str, window_s: int, max_failures: int) -> int | None:
    """Seconds to wait when this email or this address has max_failures failures in the window, else None."""
    return await db.fetchval(RETRY_AFTER, email_normalized=email_normalized, address=address,
                             window_s=window_s, max_failures=max_failures)


async def record(db, *, email_normalized: str, address: str, window_s: int) -> int:
    """Add an attempt as a failure (before it is hashed), prune the ones that left the window; its row id."""
    return await db.fetchval(RECORD, email_normalized=email_normalized, address=address, window_s=window_s)


async def withdraw(db, attempt_id: int) -> None:
    """Forget an attempt that was refused before hashing."""
    await db.execute(WITHDRAW, id=attempt_id)


async def clear_email(db, email_normalized: str) -> None:
    await db.execute(CLEAR_EMAIL, email_normalized=email_normalized)
