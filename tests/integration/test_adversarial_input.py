"""Adversarial input where the fuzz test (schemathesis) and the property test (Hypothesis)
do not reach: bytes no client library sends, bodies whose content coding is broken,
Expect headers, query strings built to fill memory, HEAD, and query parameters a route
does not take. (The same review's other findings have their own files:
test_adversarial_protocol.py, test_email_normalization.py, test_job_fairness.py,
test_adversarial_coherence.py.)

The promise under test (README "Limits", docs/API.md section 3): what a request contains
never makes it answer 500, every error is the JSON envelope, nothing hangs, and a
greedy or hostile caller changes nothing for anyone else.
"""
from __future__ import annotations

import gzip
import json
import logging
import time
import zlib

import pytest
from jobutil import wait_job, worker_settings
from rawhttp import answers, assert_envelope, exchange, raw_request, serving_on_a_port

from service.api import common


@pytest.fixture
async def served(settings):
    """The service on a real port, with 5 s header and body limits: (port, runner)."""
    async with serving_on_a_port(settings.replace(request_header_timeout_s=5.0, request_body_timeout_s=5.0)) as (port, runner, app):
        yield port, runner










# -- bodies whose coding is broken -----------------------------------------------------

@pytest.mark.parametrize("path, encoding, anonymous", [
    ("/api/auth/login", "gzip", True),           # anyone may call it
    ("/api/clients", "deflate", False),
    ("/api/posts", "gzip", False),
])
async def test_a_body_whose_content_encoding_does_not_decode_is_400_never_500(api, caplog, path, encoding,
                                                                              anonymous):
    """aiohttp decompresses gzip/deflate bodies itself; bytes that do not decompress surface
    as RequestPayloadError from request.content.read(), which read_json does not catch."""
    user = None if anonymous else await api.user()
    caplog.set_level(logging.ERROR)
    resp, body = await api.call("POST", path, user, data=b"these bytes are not compressed at all",
                                headers={"Content-Type": "application/json", "Content-Encoding": encoding})
    assert 400 <= resp.status < 500, (resp.status, body)
    assert body["error"]["status"] == resp.status and body["request_id"] == resp.headers["X-Request-ID"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], \
        [r.getMessage() for r in caplog.records]
    await api.get("/api/health/live")


async def test_an_expect_header_other_than_100_continue_is_answered_in_the_json_envelope(served, api):
    """aiohttp answers an unknown expectation itself, before the middleware: text/plain,
    no X-Request-ID, no security headers. The served app answers it before routing."""
    port, _ = served
    user = await api.user()
    raw = await exchange("127.0.0.1", port, raw_request(
        "POST", "/api/clients", token=user.token, headers={"Content-Type": "application/json", "Expect": "200-ok"},
        body=b'{"name": "x"}'))
    status, headers, body = answers(raw)[0]
    assert status == 417
    assert_envelope(status, headers, body, 417)
    assert headers.get("x-content-type-options") == "nosniff"


# -- memory: what a refused request leaves behind -----------------------------------------

async def test_refused_list_query_strings_leave_nothing_in_the_canonical_query_memo(api):
    """api/common.canonical_query memoises every list query string (up to 4096 entries) before
    the query is validated, keyed by the raw string (up to 8 KB) with its re-encoded form
    (%ff decodes to U+FFFD and re-encodes as %EF%BF%BD: ~3x). 4096 refused requests of one
    user hold ~135 MB per process, outside CACHE_MAX_BYTES and README's "budget + 96 MiB"."""
    user = await api.user()
    before = sum(len(k) + len(v) for k, v in common._canonical.items())
    for i in range(64):
        resp, _ = await api.call("GET", f"/api/posts?n{i}=" + "%ff" * 2700, user)
        assert resp.status == 400
    held = sum(len(k) + len(v) for k, v in common._canonical.items()) - before
    assert held < 1024 * 1024, f"64 refused requests left {held / 1e6:.1f} MB in the memo"


# -- what held ---------------------------------------------------------------------------

async def test_hostile_request_heads_on_the_real_handler_are_json_400_and_pipelining_works(served, api):
    port, _ = served
    user = await api.user()
    auth = f"Authorization: Bearer {user.token}\r\n".encode()
    hostile = [
        b"GET /api/posts?search=\xff\xfe\xfdabc HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",   # raw non-UTF-8 query
        b"GET /api/clients/\xc0\xaf\xff HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",          # raw bytes in the path
        b"POST /api/clients HTTP/1.1\r\nHost: x\r\n" + auth
        + b"Content-Type: application/json\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
        b"POST /api/clients HTTP/1.1\r\nHost: x\r\n" + auth                                  # smuggling shape
        + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"A" * 5000 + b" /api/clients HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for raw in hostile:
        replies = answers(await exchange("127.0.0.1", port, raw))
        status, headers, body = replies[0]
        assert assert_envelope(status, headers, body, 400)["code"] == "bad_request", raw[:60]
        assert user.token.encode() not in body
    # Two requests in one packet, and Expect: 100-continue: answered in order, then the service is up.
    pipelined = (b"GET /api/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /api/auth/me HTTP/1.1\r\nHost: x\r\n" + auth + b"Connection: close\r\n\r\n")
    replies = answers(await exchange("127.0.0.1", port, pipelined))
    assert [a[0] for a in replies] == [200, 200] and json.loads(replies[1][2])["id"] == user.id
    expect = raw_request("POST", "/api/clients", token=user.token,
                      headers={"Content-Type": "application/json", "Expect": "100-continue"}, body=b'{"name": "e"}')
    assert answers(await exchange("127.0.0.1", port, expect))[0][0] == 201


async def test_a_compression_bomb_is_refused_at_the_body_limit_after_decompression(api):
    """gzip of 50 MiB of spaces is 50 KB on the wire: the 16 KiB (public) and 8 MiB limits
    count decompressed bytes, and the answer comes without inflating it all."""
    bomb = gzip.compress(b" " * (50 * 1024 * 1024))
    started = time.monotonic()
    resp, body = await api.call("POST", "/api/auth/login", data=bomb,
                                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert resp.status == 413 and body["error"]["code"] == "payload_too_large", body
    user = await api.user()
    deflated = zlib.compress(b"[" + b" " * (60 * 1024 * 1024) + b"]", 9)
    resp, body = await api.call("POST", "/api/posts", user, data=deflated,
                                headers={"Content-Type": "application/json", "Content-Encoding": "deflate"})
    assert resp.status == 413, body
    assert time.monotonic() - started < 20


async def test_like_wildcards_backslashes_and_case_in_search_match_literally(api):
    user = await api.user()
    project = await api.project_of(user)
    contents = ["100% pure", "100 pure", "a_b1", "axb1", "back\\slash", "backslash", "STRASSE", "Straße"]
    await api.post("/api/posts", user, json={"items": [{"project_id": project["id"], "content": c, "template_name": c}
                                                      for c in contents]})
    # Each wildcard run ends in a letter: a term with no trigram ("%%%" alone) is a 400 (Limits);
    # taken as wildcards these would match most rows ("___a": "backslash"), literally none.
    expected = {"0% p": ["100% pure"], "a_b": ["a_b1"], "k\\s": ["back\\slash"], "%%%a": [], "___a": [],
                "\\\\\\a": [], "[a-z]": [], ".*+a": [], "strasse": ["STRASSE"], "STRAßE": ["Straße"]}
    for term, matches in expected.items():
        for name in ("search", "template_name"):
            page = await api.get("/api/posts", user, params={name: term, "project_id": project["id"]})
            assert sorted(item["content"] for item in page["items"]) == matches, (name, term)


async def test_hostile_query_values_are_400_naming_the_parameter(api):
    user = await api.user()
    await api.posts_of(user, (await api.project_of(user))["id"], 2)
    cases = [
        ("search=ab%00c", "search"), ("status=APPROVED", "status"), ("platform=LinkedIn", "platform"),
        ("page=0", "page"), ("page=-1", "page"), ("page=9007199254740992", "page"), ("page=" + "9" * 31, "page"),
        ("page=1e3", "page"), ("page=%D9%A1", "page"), ("page=%201", "page"), ("page_size=101", "page_size"),
        ("page=1&page=1", "page"), ("min_word_count=2147483648", "min_word_count"),
        ("min_readability=nan", "min_readability"), ("min_readability=1e3", "min_readability"),
        ("cursor=", "cursor"), ("cursor=" + "A" * 2000 + ".x", "cursor"), ("cursor=e30.AAAA", "cursor"),
        ("cursor=e30%3D.AAAA", "cursor"), ("cursor=%C3%A9.x", "cursor"), ("cursor=a.b.c", "cursor"),
        ("search=" + "x" * 201, "search"), ("search=%20%20%20", "search"), ("has_cta=yes", "has_cta"),
    ]
    for query, field in cases:
        resp, body = await api.call("GET", "/api/posts?" + query, user)
        assert resp.status == 400, (query, resp.status, body)
        assert any(e["field"] == field for e in body["error"]["errors"]), (query, body)
    # A surrogate or an overlong sequence percent-encoded decodes to U+FFFD: not what was
    # meant, so 400 naming it (it was searched as "\ufffdabc" and found nothing, silently).
    for query in ("search=%ED%A0%80abc", "search=%C0%AFabc", "template_name=%ff%fe%fdabc"):
        resp, body = await api.call("GET", "/api/posts?" + query, user)
        assert resp.status == 400 and body["error"]["field"] == query.split("=")[0], (query, body)
    # If-None-Match with 1,000 tags (near the 8 KB header limit): compared, never a 500.
    page = await api.call("GET", "/api/posts", user)
    etag = page[0].headers["ETag"]
    many = ", ".join(f'"{i:x}"' for i in range(1000))
    resp, _ = await api.call("GET", "/api/posts", user, headers={"If-None-Match": many})
    assert resp.status == 200
    resp, _ = await api.call("GET", "/api/posts", user, headers={"If-None-Match": many[:5000] + ", W/" + etag})
    assert resp.status == 304


# -- every route: HEAD, and query parameters it does not take -----------------------------

async def test_every_get_answers_head_with_the_same_headers_and_no_body(api):
    user = await api.user()
    post = (await api.posts_of(user, (await api.project_of(user))["id"], 1))[0]
    for path in ("/api/health", "/api/posts", f"/api/posts/{post['id']}", "/api/auth/me"):
        got, _ = await api.call("GET", path, user, expect=200)
        head = await api.client.head(path, headers={"Authorization": f"Bearer {user.token}"})
        assert head.status == 200, (path, head.status)
        assert await head.read() == b""
        assert head.headers["Content-Type"] == got.headers["Content-Type"]
        if "ETag" in got.headers:
            assert head.headers["ETag"] == got.headers["ETag"], path


async def test_a_route_that_takes_no_query_parameters_refuses_them(api):
    """README: unknown query parameters are 400, so a typo never silently does something
    else: on the routes that take none too (details, admin reports, health)."""
    user, admin = await api.user(), await api.user(admin=True)
    post = (await api.posts_of(user, (await api.project_of(user))["id"], 1))[0]
    for caller, path in ((user, f"/api/posts/{post['id']}?fields=id"), (admin, "/api/health/full?verbose=1"),
                         (admin, "/api/health/profiling?limit=5"), (None, "/api/health/ready?probe=1")):
        resp, body = await api.call("GET", path, caller)
        assert resp.status == 400 and body["error"]["code"] == "invalid_parameter", (path, resp.status, body)
        assert body["error"]["field"] == path.rsplit("?", 1)[1].split("=")[0]
    # Files a browser or a scraper fetches ignore a cache buster.
    for path in ("/api/docs?v=2", "/api/health/dashboard/app.js?v=2", "/api/openapi.json?v=2"):
        resp = await api.client.get(path)
        assert resp.status == 200, path


async def test_head_of_a_streamed_file_sends_no_bytes_out_of_step(served, api, make_api, settings):
    """The job result is streamed (StreamResponse.write): a HEAD served by its handler would
    send the file after the headers, which the next answer on the connection would be read
    from. It is not served (405), and the next answer is intact."""
    port, _ = served
    user = await api.user()
    project = await api.project_of(user)
    job = (await api.post(f"/api/projects/{project['id']}/reports", user, json={}, expect=202))["id"]
    worker_api = await make_api(worker_settings(settings, jobs_concurrency=1))
    assert (await wait_job(worker_api, user, job))["status"] == "succeeded"
    head = raw_request("HEAD", f"/api/jobs/{job}/result", token=user.token).replace(b"Connection: close\r\n", b"")
    raw = await exchange("127.0.0.1", port, head + raw_request("GET", "/api/health/live"))
    first, _, rest = raw.partition(b"\r\n\r\n")          # a HEAD's answer has no body
    assert first.startswith(b"HTTP/1.1 405"), first
    assert rest.startswith(b"HTTP/1.1 200"), rest[:80]


async def test_an_unknown_expectation_on_a_path_with_no_route_is_answered_in_the_envelope(served):
    """Off the route table (404, 405) aiohttp's own expect handler would answer in plain
    text, echoing the header; the served app answers before routing."""
    port, _ = served
    for method, path in (("GET", "/no/such/route"), ("PUT", "/api/health")):
        raw = await exchange("127.0.0.1", port, raw_request(method, path, headers={"Expect": "<script>x</script>"}))
        status, headers, body = answers(raw)[0]
        assert_envelope(status, headers, body, 417)
        assert b"script" not in raw and headers.get("x-content-type-options") == "nosniff"


async def test_the_connection_handlers_own_answers_carry_every_security_header(served):
    """The 400 the parser's refusal gets (and the 408 of a slow header, built the same way)
    carry the headers every other response does, not only nosniff."""
    port, _ = served
    raw = await exchange("127.0.0.1", port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
    status, headers, body = answers(raw)[0]
    assert_envelope(status, headers, body, 400)
    assert headers.get("x-frame-options") == "DENY" and headers.get("referrer-policy") == "no-referrer"
    assert "default-src 'none'" in headers.get("content-security-policy", "")
