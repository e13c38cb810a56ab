"""Login throttling: LOGIN_MAX_FAILURES failed logins for one email, or from one client
address, within LOGIN_WINDOW_S answer 429 with Retry-After; and the register cap per
client address.

The failures live in PostgreSQL (table login_failures), so every worker and instance
sees the same count. An attempt is recorded as a failure first, then counted, both
before the user lookup and the password hash (`attempt`): the row is committed before
the count, so of any burst, however large and however spread over workers and
instances, at most LOGIN_MAX_FAILURES attempts per email or per address reach the hash
within a window. A throttled attempt costs two indexed statements and a delete, no
hashing, and is not counted (its row is withdrawn: a locked-out owner is free again
when the window passes, however long an attacker keeps trying). A failure keeps its
row; a success deletes its email's rows, its own among them, so a success never counts
against its address (a user behind NAT may log in as often as they like).

Registration is capped the same way per client address (table register_attempts):
REGISTER_MAX_PER_ADDRESS attempts within REGISTER_WINDOW_S, recorded and counted before
the hash; one more answers 429 with Retry-After and is not counted.

An email is counted under the key the database makes of it (sql/login_failures/):
lower() of its NFKC form, the very expression the login lookup and the unique index
users_email_lower_key compare, so every spelling that reaches one account counts
against that account's one budget. Python's str.lower() is not that function ('İ'
lowers to two characters, a word-final 'Σ' to 'ς'; PostgreSQL's result depends on the
collation). The key is cut to login_failures' 320 characters: only a collation whose
lower() grows text makes a longer one from an email of 254 characters, and keys merged
by the cut are throttled sooner, never later.

The client address is the TCP peer (`request.remote`), never X-Forwarded-For, which
any client can write: behind a reverse proxy every request has the proxy's address, so
run the service where it sees its clients, or keep LOGIN_MAX_FAILURES high enough for
the whole proxy and rely on the per-email limit. IPv6 clients count per /64 (one host
usually holds a whole /64); an IPv4-mapped IPv6 address counts as its IPv4 address.
"""
from __future__ import annotations

from aiohttp import web

from service.errors import TooManyRequests
from service.http.callers import address_of
from service.schemas.types import normalize_email as normalize_email_form
from service.settings import Settings
from service.store import login_failures, register_attempts


def normalize_email(email: str) -> str:
    """The email as login passes it to the lookup and to the throttle: NFKC, trimmed. Not
    lowered here: the queries lower it with the database's lower(), as the accounts compare."""
    return normalize_email_form(email)


def client_address(request: web.Request) -> str:
    """The address the throttles count by (callers.address_of); no peer known: one shared bucket."""
    return address_of(request.remote) or "unknown"


async def attempt(db, settings: Settings, email: str, address: str) -> int:
    """Record this login attempt as a failure, then count: raise TooManyRequests (429,
    Retry-After, the attempt withdrawn) when this email or address is throttled; else
    the attempt's row id. Call before any hashing."""
    attempt_id = await login_failures.record(db, email_normalized=email, address=address,
                                             window_s=settings.login_window_s)
    # The row is committed: of attempts running at once, the last to count sees them all.
    wait = await login_failures.retry_after(db, email_normalized=email, address=address,
                                            window_s=settings.login_window_s,
                                            max_failures=settings.login_max_failures + 1)
    if wait is not None:
        await login_failures.withdraw(db, attempt_id)
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after=wait)
    return attempt_id


async def succeeded(db, email: str) -> None:
    """Clear the email's failures, the row of this very attempt among them."""
    await login_failures.clear_email(db, email)


async def register_attempt(db, settings: Settings, address: str) -> None:
    """Record a registration from this address, then count: raise TooManyRequests (429,
    Retry-After, the attempt withdrawn) past REGISTER_MAX_PER_ADDRESS in the window.
    Call before any hashing."""
    attempt_id = await register_attempts.record(db, address=address, window_s=settings.register_window_s)
    wait = await register_attempts.retry_after(db, address=address, window_s=settings.register_window_s,
                                               max_attempts=settings.register_max_per_address + 1)
    if wait is not None:
        await register_attempts.withdraw(db, attempt_id)
        raise TooManyRequests(f"too many registrations from this address; try again in {wait} s",
                              retry_after=wait)
