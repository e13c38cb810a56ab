"""Request bodies in a Content-Encoding the server cannot decode, checked against the service as
`run.py serve` runs it (the connection handler of http/protocol.py in front of the app)."""
from __future__ import annotations

import json
import logging

import pytest
from rawhttp import answers, exchange, raw_request, serving_on_a_port


@pytest.mark.parametrize("coding", ["br", "zstd"])
async def test_a_coding_whose_library_is_missing_is_415_as_documented(settings, caplog, coding):
    """README and docs/API.md "Limits": a request body's Content-Encoding is gzip, deflate or
    identity, "br and zstd only if their libraries are installed", anything else 415
    naming Content-Encoding. Without Brotli (or zstandard) aiohttp's parser refuses the
    coding itself, before any handler: the answer was 400 "malformed HTTP request", which
    tells a client its request is broken when only its coding is not supported."""
    from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
    if {"br": HAS_BROTLI, "zstd": HAS_ZSTD}[coding]:
        pytest.skip(f"{coding} is decoded here")
    caplog.set_level(logging.INFO)
    async with serving_on_a_port(settings) as (port, _runner, _app):
        raw = raw_request("POST", "/api/auth/login", body=b'{"email": "a@example.com", "password": "x"}',
                          headers={"Content-Type": "application/json", "Content-Encoding": coding})
        [(status, _headers, body)] = answers(await exchange("127.0.0.1", port, raw))
    error = json.loads(body)["error"]
    assert (status, error["code"], error.get("field")) == (415, "unsupported_media_type", "Content-Encoding"), body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
