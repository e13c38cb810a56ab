"""Fair shares of the pool: at most DB_USER_CONCURRENCY database sessions at once per user.

One user issuing many expensive requests (long searches, deep exports) queues behind
their own earlier requests instead of taking every pooled connection, so other users'
requests still find one. The user comes from the request context (set by the auth
guard); work outside a user's request (start-up, jobs, the CLI) is not limited here.
A session opened while the same task already holds a slot (a nested acquire) takes no
second slot, so a request can never wait for itself.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from service.context import current_request
from service.errors import ApiError

_holding: ContextVar[bool] = ContextVar("holding_user_slot", default=False)


class TooManyConcurrentRequests(ApiError):
    status, code = 429, "too_many_requests"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class UserLimiter:
    def __init__(self, per_user: int, wait_s: float) -> None:
        self.per_user = per_user
        self.wait_s = wait_s
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._users_waiting: dict[str, int] = {}
        self.refusals = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        ctx = current_request.get()
        user = ctx.user_id if ctx is not None else None
        if user is None or _holding.get():
            yield
            return
        semaphore = self._slots.get(user)
        if semaphore is None:
            semaphore = self._slots[user] = asyncio.Semaphore(self.per_user)
        self._users_waiting[user] = self._users_waiting.get(user, 0) + 1
        try:
            try:
                if semaphore.locked():
                    async with asyncio.timeout(self.wait_s):
                        await semaphore.acquire()
                else:
                    # A free slot is taken at once: no timer (asyncio.wait_for would also
                    # wrap the acquire in a new Task on every request on Python 3.11).
                    await semaphore.acquire()
            except TimeoutError:
                self.refusals += 1
                raise TooManyConcurrentRequests(
                    f"more than {self.per_user} of your requests were using the database for "
                    f"{self.wait_s:g} s; try again later (DB_USER_CONCURRENCY)") from None
            token = _holding.set(True)
            try:
                yield
            finally:
                _holding.reset(token)
                semaphore.release()
        finally:
            left = self._users_waiting[user] - 1
            if left:
                self._users_waiting[user] = left
            else:                           # nobody holds or waits: forget the user (bounded memory)
                del self._users_waiting[user]
                del self._slots[user]
