"""The client address login throttling counts by: the TCP peer, IPv6 per /64."""
from __future__ import annotations

from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from service.auth.throttle import client_address, normalize_email


def _from(peer):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: peer if name == "peername" else default
    return make_mocked_request("POST", "/api/auth/login", headers={"X-Forwarded-For": "203.0.113.9"},
                               transport=transport)


@pytest.mark.parametrize(("peer", "expected"), [
    (("192.0.2.7", 51000), "192.0.2.7"),
    (("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 51000, 0, 0), "2001:db8:1:2::/64"),
    (("2001:db8:1:2::1", 51000, 0, 0), "2001:db8:1:2::/64"),
    (("::ffff:192.0.2.7", 51000, 0, 0), "192.0.2.7"),
    ("/run/service.sock", "/run/service.sock"),     # a Unix socket: one bucket
    (None, "unknown"),
])
def test_the_address_is_the_peer_never_x_forwarded_for(peer, expected):
    assert client_address(_from(peer)) == expected


def test_emails_are_counted_nfkc_normalised_and_trimmed():
    assert normalize_email("  \uff33omeone@Example.COM ") == "Someone@Example.COM"   # NFKC, trimmed; the database lowers
