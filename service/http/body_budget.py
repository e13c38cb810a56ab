"""Bytes of request bodies being read or processed at once: bounded per caller and in all.

read_json (http/body.py) buffers a body whole before parsing it, up to MAX_BODY_BYTES.
Without a bound, one user who starts many large uploads and stalls each just before its
end holds a body's worth of memory per connection until REQUEST_BODY_TIMEOUT_S (48
uploads of 8 MiB: +380 MiB in one worker, tests/integration/test_body_limits.py). So each
chunk is counted against its caller (the user, or the client address before a token is
known) and against the process before it is kept; a caller over PER_CALLER_BYTES gets
429, the process over TOTAL_BYTES 503, both with Retry-After and the connection closed
(the rest of the body is not read). The bytes are given back when the body is refused,
or once its request is answered (the middleware): a parsed body lives on while its request
waits for its caller's share of the database, so giving them back at parsing let one user
pile up parsed 8 MiB bulks behind DB_USER_CONCURRENCY (+470 MiB for 60 of them).
"""
from __future__ import annotations

from service.errors import ApiError

MAX_BODY_BYTES = 8 * 1024 * 1024
# Two of the largest bodies at once per caller; sixteen in all per process.
PER_CALLER_BYTES = 2 * MAX_BODY_BYTES
TOTAL_BYTES = 16 * MAX_BODY_BYTES
RETRY_AFTER_S = 1


class CallerBodiesTooLarge(ApiError):
    status, code = 429, "too_many_requests"
    closes_connection = True

    def __init__(self) -> None:
        super().__init__(f"your requests' bodies being read or processed at once are over {PER_CALLER_BYTES // (1024 * 1024)} MiB;"
                         " send them one after another", headers={"Retry-After": str(RETRY_AFTER_S)})


class BodiesTooLarge(ApiError):
    status, code = 503, "busy"
    closes_connection = True

    def __init__(self) -> None:
        super().__init__("the service is reading too many request bodies at once; try again shortly",
                         headers={"Retry-After": str(RETRY_AFTER_S)})


class BodyBudget:
    def __init__(self, per_caller: int = PER_CALLER_BYTES, total: int = TOTAL_BYTES) -> None:
        self.per_caller = per_caller
        self.total = total
        self.used = 0
        self._by_caller: dict[str, int] = {}

    def take(self, caller: str, size: int) -> None:
        """Count `size` more bytes for the caller, or raise (nothing counted)."""
        mine = self._by_caller.get(caller, 0) + size
        if mine > self.per_caller:
            raise CallerBodiesTooLarge()
        if self.used + size > self.total:
            raise BodiesTooLarge()
        self._by_caller[caller] = mine
        self.used += size

    def give_back(self, caller: str, size: int) -> None:
        if not size:
            return
        left = self._by_caller.get(caller, 0) - size
        if left > 0:
            self._by_caller[caller] = left
        else:
            self._by_caller.pop(caller, None)      # bounded: only callers reading a body now
        self.used -= size
