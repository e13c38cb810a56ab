"""Registration attempts, for the cap per client address: sql/register_attempts/."""
from __future__ import annotations

from service.db.registry import query

RECORD = query("register_attempts/record")
RETRY_AFTER = query("register_attempts/retry_after")
WITHDRAW = query("register_attempts/withdraw")


async def record(db, *, address: str, window_s: int) -> int:
    """Add an attempt (before it is hashed), prune the ones that left the window; its row id."""
    return await db.fetchval(RECORD, address=address, window_s=window_s)


async def retry_after(db, *, address: str, window_s: int, max_attempts: int) -> int | None:
    """Seconds to wait when this address has max_attempts attempts in the window, else None."""
    return await db.fetchval(RETRY_AFTER, address=address, window_s=window_s, max_attempts=max_attempts)


async def withdraw(db, attempt_id: int) -> None:
    await db.execute(WITHDRAW, id=attempt_id)
