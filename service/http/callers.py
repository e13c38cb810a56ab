"""Who a request or connection counts against: the user once the token is checked, else
the client address, normalised once for every bound that counts by it (the per-caller
budgets of request bodies and unread answers, the login and registration throttles, the
connections per address)."""
from __future__ import annotations

import ipaddress

from aiohttp import web

from service import keys


def address_of(host: str | None) -> str | None:
    """One client's address: the TCP peer's IPv4 address; an IPv6 peer's /64 (one host
    usually holds a whole /64, so its addresses are one client); an IPv4-mapped IPv6 peer
    as its IPv4 address; anything else (a Unix socket) as given, cut to 64 characters.
    None without a peer. Never X-Forwarded-For, which the client writes itself."""
    if not host:
        return None
    if ":" not in host:
        return host[:64]                          # IPv4: no parsing on the common path
    try:
        ip = ipaddress.IPv6Address(host.partition("%")[0])
    except ValueError:
        return host[:64]
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def caller_key(request: web.Request) -> str:
    """The user once the token is checked, else the client address (address_of)."""
    user = request.get(keys.USER)
    return f"user:{user.id}" if user is not None else f"address:{address_of(request.remote) or 'unknown'}"
