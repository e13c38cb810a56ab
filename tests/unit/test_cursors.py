"""The cursor codec: signed, opaque, URL-safe; anything it did not issue is refused as invalid_cursor."""
from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from uuid import uuid4

import orjson
import pytest

from service.errors import InvalidCursor
from service.pagination.cursors import MAX_CURSOR_LENGTH, Cursor, CursorCodec, fingerprint

KEY = (datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC), uuid4())
CODEC = CursorCodec("secret-one")


def _cursor(**changes) -> Cursor:
    fields = {"resource": "posts", "order": "desc", "direction": "next", "key": KEY, "fingerprint": "f" * 16}
    return Cursor(**{**fields, **changes})


def _signed_payload(codec: CursorCodec, payload) -> str:
    """A token with a valid signature over any payload: what only a holder of the key could make."""
    body = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
    return f"{body}.{codec._sign(body)}"


@pytest.mark.parametrize("cursor", [
    _cursor(),
    _cursor(order="asc", direction="prev"),
    _cursor(key=None),
    _cursor(key=(datetime(2024, 1, 1, tzinfo=UTC), uuid4())),
])
def test_round_trip_keeps_every_field_to_the_microsecond(cursor):
    token = CODEC.encode(cursor)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token), "URL-safe without escaping"
    assert CODEC.decode(token) == cursor


def test_token_is_opaque_to_a_casual_reader_but_not_secret():
    token = CODEC.encode(_cursor())
    assert "posts" not in token and str(KEY[1]) not in token


def _refused(token: str, codec: CursorCodec = CODEC) -> str:
    with pytest.raises(InvalidCursor) as caught:
        codec.decode(token)
    assert caught.value.field == "cursor" and caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize("token", [
    "", ".", "abc", "abc.", ".abc", "a.b.c", "no dots here", "é.abc", "abc.dé", "abc def.xyz",
    "abc%2E.xyz", "a" * (MAX_CURSOR_LENGTH + 1), "\x00.\x00",
])
def test_malformed_tokens_are_refused(token):
    _refused(token)


def test_a_changed_byte_anywhere_is_refused():
    token = CODEC.encode(_cursor())
    body, signature = token.split(".")
    for position in range(len(body)):
        flipped = body[:position] + ("A" if body[position] != "A" else "B") + body[position + 1:]
        assert "signature" in _refused(f"{flipped}.{signature}")
    assert "signature" in _refused(f"{body}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}")


def test_payload_edited_and_re_encoded_is_refused():
    token = CODEC.encode(_cursor())
    body, signature = token.split(".")
    payload = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["f"] = "0" * 16
    forged = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
    assert "signature" in _refused(f"{forged}.{signature}")


def test_a_cursor_signed_under_another_secret_key_is_refused():
    assert "another key" in _refused(CursorCodec("secret-two").encode(_cursor()))


@pytest.mark.parametrize("payload", [
    {"v": 0, "r": "posts", "o": "desc", "d": "next", "k": None, "f": "x"},          # an older format
    {"v": 2, "r": "posts", "o": "desc", "d": "next", "k": None, "f": "x"},          # a newer format
])
def test_another_format_version_is_refused_by_name(payload):
    assert "format" in _refused(_signed_payload(CODEC, payload))


@pytest.mark.parametrize("payload", [
    {"v": 1, "r": "posts", "o": "sideways", "d": "next", "k": None, "f": "x"},
    {"v": 1, "r": "posts", "o": "desc", "d": "up", "k": None, "f": "x"},
    {"v": 1, "r": "posts", "o": "desc", "d": "next", "k": ["yesterday", str(uuid4())], "f": "x"},
    {"v": 1, "r": "posts", "o": "desc", "d": "next", "k": ["2024-01-01T00:00:00", str(uuid4())], "f": "x"},
    {"v": 1, "r": "posts", "o": "desc", "d": "next", "k": ["2024-01-01T00:00:00+00:00", "not-a-uuid"], "f": "x"},
    {"v": 1, "r": "posts", "o": "desc", "d": "next", "k": [1], "f": "x"},
    {"v": 1, "r": "posts", "o": "desc", "d": "next", "f": "x"},
    [1, 2, 3],
    "just a string",
])
def test_signed_but_nonsensical_payloads_are_refused_not_crashed(payload):
    assert "malformed" in _refused(_signed_payload(CODEC, payload))


def test_fingerprint_separates_lists_scopes_and_filters():
    user = str(uuid4())
    base = fingerprint("posts", user, {"status": "approved"})
    assert base == fingerprint("posts", user, {"status": "approved"})
    assert base != fingerprint("projects", user, {"status": "approved"})
    assert base != fingerprint("posts", str(uuid4()), {"status": "approved"})
    assert base != fingerprint("posts", "admin", {"status": "approved"})
    assert base != fingerprint("posts", user, {"status": "flagged"})
    assert base != fingerprint("posts", user, {})
    assert base != fingerprint("posts", user, {"status": "approved", "platform": "blog"})
    # Filter order in the query string does not matter.
    assert (fingerprint("posts", user, {"status": "approved", "platform": "blog"})
            == fingerprint("posts", user, {"platform": "blog", "status": "approved"}))
