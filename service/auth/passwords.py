"""Password hashes: argon2id for new ones; older scrypt hashes still verify and are
flagged for re-hashing. Computed off the event loop.

argon2id with OWASP's first recommended parameters (m = 19 MiB, t = 2, p = 1), about
20-40 ms per hash here. The scrypt hashes written before (`scrypt$n$r$p$salt$hash`,
stdlib, n = 2**14, r = 8) verify as before; `verify` then says the hash needs
replacing, and login stores an argon2id hash of the same password.

The hashing runs on a thread pool of its own (`PasswordWork`), never the event loop's
default executor, and is admitted before any of a request's work: at most
PASSWORD_HASH_THREADS hashes run at once and PASSWORD_HASH_QUEUE more wait, per process;
one client address holds at most PASSWORD_HASH_PER_ADDRESS of those places. A request
beyond them is refused at once, unhashed: 429 `too_many_requests` when its address holds
its share (that client is the excess), 503 `busy` when the queue is full (many
clients together exceed the capacity: an overload, not one client's fault), both with
Retry-After. So the wait of an admitted request is bounded by the queue, about
(queue / threads + 1) hashes, whatever arrives. A place is held until the hash it
started has finished in its thread, even when the request was cancelled meanwhile.
"""
from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import hmac
import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.errors import ServiceUnavailable, TooManyRequests
from service.settings import Settings, available_cpus

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


class PasswordWork:
    """A bounded pool for password hashing: `threads` run, `queue` more wait, one address
    holds at most `per_address` places. Admission (`admit`) is synchronous and answers at
    once; the places are counted under a lock, released from the hashing thread."""

    def __init__(self, threads: int, queue: int, per_address: int) -> None:
        self.threads, self.capacity, self.per_address = threads, threads + queue, per_address
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password-hash")
        self._lock = threading.Lock()
        self._held = 0
        self._by_address: dict[str, int] = {}

    def admit(self, address: str) -> Ticket:
        """A place for this request's hashing, or TooManyRequests / ServiceUnavailable at once."""
        with self._lock:
            if self._by_address.get(address, 0) >= self.per_address:
                raise TooManyRequests("too many password checks from this address at once; try again shortly",
                                      retry_after=1)
            if self._held >= self.capacity:
                raise ServiceUnavailable("the server is busy checking passwords; try again shortly",
                                         retry_after=1, code="busy")
            self._held += 1
            self._by_address[address] = self._by_address.get(address, 0) + 1
        return Ticket(self, address)

    def _release(self, address: str) -> None:
        with self._lock:
            self._held -= 1
            left = self._by_address[address] - 1
            if left:
                self._by_address[address] = left
            else:
                del self._by_address[address]


class Ticket:
    """One admitted request's place: `with ticket:` makes the hashes awaited inside it run
    on its pool; the place is given back when the block is left and its last hash is done."""

    def __init__(self, work: PasswordWork, address: str) -> None:
        self._work, self._address = work, address
        self._running = 0
        self._open = True
        self._token: contextvars.Token | None = None

    def __enter__(self) -> Ticket:
        self._token = _TICKET.set(self)
        return self

    def __exit__(self, *exc) -> None:
        if self._token is not None:
            _TICKET.reset(self._token)
        with self._work._lock:
            self._open = False
            done = self._running == 0
        if done:
            self._work._release(self._address)

    async def run(self, fn, *args):
        with self._work._lock:
            self._running += 1
        try:
            future = self._work._executor.submit(fn, *args)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        # Cancelling the await cancels a hash not yet started; one running finishes in its
        # thread, and holds its place until then.
        return await asyncio.wrap_future(future)

    def _finished(self, _future: Future | None) -> None:
        with self._work._lock:
            self._running -= 1
            done = not self._open and self._running == 0
        if done:
            self._work._release(self._address)


_TICKET: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("password_ticket", default=None)
_WORKS: dict[tuple[int, int, int], PasswordWork] = {}
_WORKS_LOCK = threading.Lock()


def work_for(settings: Settings) -> PasswordWork:
    """This process's pool for these settings (one per distinct configuration)."""
    return _pool(settings.password_hash_threads, settings.password_hash_queue, settings.password_hash_per_address)


def _pool(threads: int, queue: int, per_address: int) -> PasswordWork:
    with _WORKS_LOCK:
        work = _WORKS.get((threads, queue, per_address))
        if work is None:
            work = _WORKS[(threads, queue, per_address)] = PasswordWork(threads, queue, per_address)
        return work


def _unadmitted() -> PasswordWork:
    """The pool for hashing outside a request (`run.py create-user`, seeding, benchmarks):
    one thread per CPU; its callers wait their turn, none is refused."""
    threads = available_cpus(8)
    return _pool(threads, 0, threads)


async def _run(fn, *args):
    ticket = _TICKET.get()
    if ticket is None:
        return await asyncio.wrap_future(_unadmitted()._executor.submit(fn, *args))
    return await ticket.run(fn, *args)


async def hash_password_async(password: str) -> str:
    """On the admitted request's pool (inside `with work.admit(address):`), else unbounded."""
    return await _run(_hash, password)


async def verify_password_async(password: str, stored: str | None) -> Verified:
    result = await _run(_verify, password, stored or _DUMMY_HASH)
    return result if stored is not None else Verified(False, False)


# Looked up when called, so a test may replace hash_password / verify_password.
def _hash(password: str) -> str:
    return hash_password(password)


def _verify(password: str, stored: str) -> Verified:
    return verify_password(password, stored)
