"""Bytes of answers written and not yet taken by their clients: bounded per caller and in
all; and streamed answers (a job's result) at once, per caller and in all (StreamSlots).

An answer is handed to the connection's transport whole; what the client does not read
waits in the worker's write buffer until RESPONSE_SEND_TIMEOUT_S cuts the connection
(http/protocol.py). Without a bound, one user who asks for the same 10 MB page on 40
connections and reads nothing holds 374 MiB of one worker for that long
(tests/integration/test_unread_answers.py). So before a large answer is written
(middleware.py), the bytes its caller's connections still hold unsent are summed; for
a GET, over PER_CALLER_BYTES with this answer the request is answered 429, over
TOTAL_BYTES for the process 503, both small and with Retry-After. A caller with nothing
unsent always gets its answer, however large, so a user reading normally is never
refused, and one caller holds at most PER_CALLER_BYTES plus one answer. When such a
caller's answer would put the process over TOTAL_BYTES, room is made instead: the
stalled connections of the callers holding the most are aborted (their unsent bytes
freed), largest first, so callers who stall (several accounts of one attacker, say)
cannot make the service refuse others.
A write's answer (POST, PATCH, PUT, DELETE) is never refused: its change has committed,
and a 429 would hide that. Room is made instead (admit_write): the caller's own stalled
connections over its share are aborted, largest first, then others' over the process's.
A paused write's answer counts whole besides its buffer: aiohttp keeps the response's
body until its last byte is taken, and unlike a GET's page (shared with the response
cache) it is the request's own. Without this, 40 bulks of posts (8 MB answers) that one
user never read grew one worker by 889 MiB; now by about 100 MiB, where the same bulks
read normally grow it by about 43 (tests/integration/test_probe_leftovers.py).

What is counted: the write buffers of connections whose transport paused writing (over
its high-water mark, 64 KiB; GuardedRequestHandler reports the pause and the resume).
Below it a connection holds at most that much, and MAX_CONNECTIONS_PER_ADDRESS bounds
how many one address opens. The kernel's send queue is not the worker's memory. The
write follows the admission in the same event-loop step (aiohttp's finish_response
does not suspend before it writes), so concurrent requests of one caller see each
other's bytes.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from service.errors import ApiError

log = logging.getLogger("service.http.unsent_answers")

# An answer at most this large is written without a look: it fits under the transport's
# high-water mark, so it never sits in a paused buffer on its own.
SMALL_ANSWER_BYTES = 64 * 1024
# Three of the largest pages (100 posts of 100,000 characters: 10 MB) per caller; a
# process holds at most TOTAL_BYTES of everyone's.
PER_CALLER_BYTES = 32 * 1024 * 1024
TOTAL_BYTES = 256 * 1024 * 1024
RETRY_AFTER_S = 1


class CallerAnswersUnread(ApiError):
    status, code = 429, "too_many_requests"

    def __init__(self) -> None:
        super().__init__(f"your earlier answers are still unread (over {PER_CALLER_BYTES // (1024 * 1024)} MiB"
                         " waiting to be sent); read them before asking for more",
                         headers={"Retry-After": str(RETRY_AFTER_S)})


class AnswersUnread(ApiError):
    status, code = 503, "busy"

    def __init__(self) -> None:
        super().__init__("the service holds too many unread answers; try again shortly",
                         headers={"Retry-After": str(RETRY_AFTER_S)})


class UnsentAnswers:
    def __init__(self, per_caller: int = PER_CALLER_BYTES, total: int = TOTAL_BYTES) -> None:
        self.per_caller = per_caller
        self.total = total
        # caller -> {connection: (its transport, the bytes of a write's answer it holds)} for
        # connections paused with bytes unsent. Bounded: an entry lives while its connection
        # is paused, and leaves when it resumes or is lost.
        self._paused: dict[str, dict[object, tuple[asyncio.Transport, int]]] = {}

    def admit(self, caller: str, size: int) -> None:
        """Raise if an answer of `size` bytes would put the caller or the process over its share."""
        held = _unsent(self._paused.get(caller))
        if held and held + size > self.per_caller:
            raise CallerAnswersUnread()
        if self._paused:
            everyone = sum(_unsent(connections) for connections in self._paused.values())
            if everyone and everyone + size > self.total:
                if held:
                    raise AnswersUnread()
                self._make_room(everyone + size - self.total)

    def admit_write(self, caller: str, size: int) -> None:
        """A write's answer of `size` bytes, never refused: abort the caller's own stalled
        connections until it is within its share with this answer, then anyone's (the
        largest holders') until the process is within its own."""
        held = _unsent(self._paused.get(caller))
        if held and held + size > self.per_caller:
            self._make_room(held + size - self.per_caller, only=caller)
        if self._paused:
            everyone = sum(_unsent(connections) for connections in self._paused.values())
            if everyone and everyone + size > self.total:
                self._make_room(everyone + size - self.total)

    def _make_room(self, excess: int, only: str | None = None) -> None:
        """Abort stalled connections, the largest buffer of the caller holding the most
        (or of caller `only`) first, until `excess` bytes are freed (or none is left)."""
        while excess > 0 and self._paused:
            if only is None:
                caller, connections = max(self._paused.items(), key=lambda item: _unsent(item[1]))
            elif only in self._paused:
                caller, connections = only, self._paused[only]
            else:
                return
            connection, (transport, _) = max(connections.items(), key=lambda item: _held(item[1]))
            freed = _held(connections[connection])
            self.resumed(caller, connection)       # connection_lost comes later; count it gone now
            transport.abort()
            excess -= max(freed, 1)
            log.info("aborted a stalled answer of %s (%d bytes unsent) to make room for %s",
                     caller, freed, "its write's answer" if only else "another caller's")

    def paused(self, caller: str, connection: object, transport: asyncio.Transport, answer: int = 0) -> None:
        """`answer`: the bytes of a write's answer, held whole (aiohttp's response keeps its
        body until the last byte is taken) besides what the buffer holds: unlike a GET's,
        shared with the response cache, it is this request's own."""
        self._paused.setdefault(caller, {})[connection] = (transport, answer)

    def resumed(self, caller: str, connection: object) -> None:
        connections = self._paused.get(caller)
        if connections is not None:
            connections.pop(connection, None)
            if not connections:
                del self._paused[caller]

    def held(self, caller: str) -> int:
        return _unsent(self._paused.get(caller))


def _unsent(connections: dict[object, tuple[asyncio.Transport, int]] | None) -> int:
    if not connections:
        return 0
    return sum(_held(entry) for entry in connections.values())


def _held(entry: tuple[asyncio.Transport, int]) -> int:
    transport, answer = entry
    return transport.get_write_buffer_size() + answer


# Streamed answers (a job's result): written a few chunks at a time, each write waiting for
# the client, so one download holds what it read last (DOWNLOAD_CHUNKS_PER_READ x 1 MiB)
# for as long as its client waits: 40 stalled downloads of one user held +129 MiB. So
# downloads at once are counted per caller and in all.
STREAMS_PER_CALLER = 4
STREAMS_TOTAL = 64


class CallerStreamsBusy(ApiError):
    status, code = 429, "too_many_requests"

    def __init__(self) -> None:
        super().__init__(f"you are downloading {STREAMS_PER_CALLER} results at once already; finish one first",
                         headers={"Retry-After": str(RETRY_AFTER_S)})


class StreamsBusy(ApiError):
    status, code = 503, "busy"

    def __init__(self) -> None:
        super().__init__("the service is sending too many downloads at once; try again shortly",
                         headers={"Retry-After": str(RETRY_AFTER_S)})


class StreamSlots:
    def __init__(self, per_caller: int = STREAMS_PER_CALLER, total: int = STREAMS_TOTAL) -> None:
        self.per_caller = per_caller
        self.total = total
        self.used = 0
        self._by_caller: dict[str, int] = {}

    @contextmanager
    def taken(self, caller: str) -> Iterator[None]:
        """One slot of the caller's for the block, or raise 429/503 before anything is sent."""
        mine = self._by_caller.get(caller, 0)
        if mine >= self.per_caller:
            raise CallerStreamsBusy()
        if self.used >= self.total:
            raise StreamsBusy()
        self._by_caller[caller] = mine + 1
        self.used += 1
        try:
            yield
        finally:
            self.used -= 1
            left = self._by_caller[caller] - 1
            if left:
                self._by_caller[caller] = left
            else:
                del self._by_caller[caller]          # bounded: only callers downloading now
