"""Login throttling: LOGIN_MAX_FAILURES failed logins for one email, or from one client
address, within LOGIN_WINDOW_S answer 429 with Retry-After.

The failures live in PostgreSQL (table login_failures), so every worker and instance
sees the same count. The check runs before the user lookup and the password hash: a
throttled attempt costs one indexed query, no CPU-heavy hashing, and is not itself
recorded (a locked-out owner is free again when the window passes, however long an
attacker keeps trying). A success clears the email's failures. Concurrent attempts
that pass the check together may each fail once more than the limit before the next
check sees them.

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

import ipaddress

from aiohttp import web

from service.errors import TooManyRequests
from service.schemas.types import normalize_email as normalize_email_form
from service.settings import Settings
from service.store import login_failures


def normalize_email(email: str) -> str:
    """The email as login passes it to the lookup and to the throttle: NFKC, trimmed. Not
    lowered here: the queries lower it with the database's lower(), as the accounts compare."""
    return normalize_email_form(email)


def client_address(request: web.Request) -> str:
    remote = request.remote
    if not remote:
        return "unknown"       # no peer known: one shared bucket
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


async def check(db, settings: Settings, email: str, address: str) -> None:
    """Raise TooManyRequests (429, Retry-After) when this email or address is throttled."""
    wait = await login_failures.retry_after(db, email_normalized=email, address=address,
                                            window_s=settings.login_window_s,
                                            max_failures=settings.login_max_failures)
    if wait is not None:
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after=wait)


async def failed(db, settings: Settings, email: str, address: str) -> None:
    await login_failures.record(db, email_normalized=email, address=address, window_s=settings.login_window_s)


async def succeeded(db, email: str) -> None:
    await login_failures.clear_email(db, email)
