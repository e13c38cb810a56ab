"""The error contract and the headers of every response (docs/API.md section 3)."""
from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from service.http.body import MAX_BODY_BYTES

ERROR_KEYS = {"status", "code", "message"}
# Words that would show a stack trace, a driver message or SQL text.
LEAKS = ("Traceback", 'File "', "asyncpg", "SELECT ", "INSERT ", "UPDATE ", " FROM ", "psycopg", ".py")


def assert_error(resp, body: dict, status: int, *, field: str | None = None) -> dict:
    """The docs/API.md error shape: {"error": {status, code, message, field?, errors (400, 422)}, "request_id"},
    and nothing leaked."""
    assert resp.status == status
    assert resp.content_type == "application/json"
    assert set(body) == {"error", "request_id"}
    error = body["error"]
    assert ERROR_KEYS <= set(error) <= ERROR_KEYS | {"field", "errors", "errors_truncated"}
    if status in (400, 422):
        # Every problem (docs/API.md section 9); the first is the one field and message name.
        assert error["errors"] and error["errors"][0]["field"] == error.get("field")
        assert all(set(problem) == {"field", "message"} and problem["message"] for problem in error["errors"])
    else:
        assert "errors" not in error
    assert error["status"] == status and isinstance(error["code"], str) and error["message"]
    assert body["request_id"] == resp.headers["X-Request-ID"]
    if field is not None:
        assert error["field"] == field
    text = str(body)
    assert not any(leak in text for leak in LEAKS), text
    assert "Server-Timing" in resp.headers
    return error


async def test_invalid_json_is_400(api):
    user = await api.user()
    for raw in (b"{not json", b"", b'{"name": "x",}', b"\xff\xfe"):
        resp, body = await api.call("POST", "/api/clients", user, data=raw,
                                    headers={"Content-Type": "application/json"})
        assert assert_error(resp, body, 400)["code"] == "invalid_json", raw


async def test_json_that_is_not_an_object_is_422(api):
    user = await api.user()
    for raw in (b"[1, 2]", b'"name"', b"3", b"null"):
        resp, body = await api.call("POST", "/api/clients", user, data=raw,
                                    headers={"Content-Type": "application/json"})
        assert_error(resp, body, 422)


async def test_wrong_content_type_is_415(api):
    user = await api.user()
    resp, body = await api.call("POST", "/api/clients", user, data="name=Acme",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert assert_error(resp, body, 415)["code"] == "unsupported_media_type"
    resp, body = await api.call("POST", "/api/auth/login", data=b'{"email": "a@b.co", "password": "x"}',
                                headers={"Content-Type": "text/plain"})
    assert_error(resp, body, 415)


async def test_a_body_over_8_mib_is_413_json(api):
    user = await api.user()
    payload = b'{"name": "' + b"x" * (MAX_BODY_BYTES) + b'"}'
    resp, body = await api.call("POST", "/api/clients", user, data=io.BytesIO(payload),
                                headers={"Content-Type": "application/json"})
    assert assert_error(resp, body, 413)["code"] == "payload_too_large"

    async def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(9):
            yield b" " * (1024 * 1024)

    resp, body = await api.call("POST", "/api/posts", user, data=chunks(),
                                headers={"Content-Type": "application/json"})
    assert_error(resp, body, 413)


async def test_unknown_route_is_404_json_and_wrong_method_is_405_json(api):
    user = await api.user()
    resp, body = await api.call("GET", "/api/nothing-here", user)
    assert assert_error(resp, body, 404)["code"] == "not_found"
    resp, body = await api.call("GET", "/nowhere")
    assert_error(resp, body, 404)
    resp, body = await api.call("PUT", "/api/clients", user, json={"name": "x"})
    assert assert_error(resp, body, 405)["code"] == "method_not_allowed"
    assert "POST" in resp.headers["Allow"]
    resp, body = await api.call("DELETE", "/api/runs", user)
    assert_error(resp, body, 405)


async def test_auth_and_validation_errors_have_the_shape(api):
    resp, body = await api.call("GET", "/api/clients")
    assert_error(resp, body, 401)
    user = await api.user()
    resp, body = await api.call("GET", "/api/clients", user, params={"page_size": "0"})
    assert_error(resp, body, 400, field="page_size")
    resp, body = await api.call("POST", "/api/clients", user, json={"name": 3})
    assert_error(resp, body, 422, field="name")
    resp, body = await api.call("GET", "/api/clients/not-an-id", user)
    assert_error(resp, body, 404)
    resp, body = await api.call("POST", "/api/auth/register", json={"email": user.email, "password": "password-123"})
    assert_error(resp, body, 409, field="email")


async def test_odd_input_never_gives_500(api):
    """Huge numbers, deep nesting, NUL characters and lone surrogates are 4xx, never 500."""
    user = await api.user()
    project = await api.project_of(user)
    bodies = [
        b'{"name": "x", "tone": "a\\u0000b", "client_id": "%s"}' % project["client_id"].encode(),
        b'{"project_id": "%s", "content": "x", "variant": 1e400}' % project["id"].encode(),
        b'{"project_id": "%s", "content": "x", "variant": 123456789012345678901234567890}' % project["id"].encode(),
        b'{"project_id": "%s", "content": "\\ud800"}' % project["id"].encode(),
        b'{"project_id": "%s", "content": "x", "flags": ' % project["id"].encode() + b"[" * 2000 + b"]" * 2000 + b"}",
    ]
    for path, raw in zip(("/api/projects", "/api/posts", "/api/posts", "/api/posts", "/api/posts"), bodies, strict=True):
        resp, body = await api.call("POST", path, user, data=raw, headers={"Content-Type": "application/json"})
        assert 400 <= resp.status < 500, (raw[:80], resp.status, body)
        assert_error(resp, body, resp.status)
    tq = {"client_id": project["client_id"], "name": "x", "template_quantities": {"a\u0000": 1}}
    resp, body = await api.call("POST", "/api/projects", user, json=tq)
    assert_error(resp, body, 422, field="template_quantities")


async def test_request_id_is_echoed_only_when_safe(api):
    safe = "req-1.A_b" + "x" * 119
    assert len(safe) == 128
    resp, _ = await api.call("GET", "/api/health", headers={"X-Request-ID": safe})
    assert resp.headers["X-Request-ID"] == safe
    for unsafe in ("x" * 129, "has space", "semi;colon", "a/b", ""):
        resp, _ = await api.call("GET", "/api/health", headers={"X-Request-ID": unsafe})
        made = resp.headers["X-Request-ID"]
        assert made and made != unsafe and len(made) <= 128
    resp, body = await api.call("GET", "/api/clients", headers={"X-Request-ID": "trace-42"})
    assert resp.headers["X-Request-ID"] == body["request_id"] == "trace-42"
    first, _ = await api.call("GET", "/api/health")
    second, _ = await api.call("GET", "/api/health")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_every_response_has_server_timing(api):
    user = await api.user()
    client = await api.client_of(user)
    calls = [("GET", "/api/health", None, {}), ("GET", "/api/clients", user, {}),
             ("POST", "/api/clients", user, {"json": {"name": "x"}}),
             ("DELETE", f"/api/clients/{client['id']}", user, {}), ("GET", "/api/clients", None, {}),
             ("GET", "/missing", None, {}), ("PUT", "/api/clients", user, {})]
    for method, path, who, kwargs in calls:
        resp, _ = await api.call(method, path, who, **kwargs)
        timing = resp.headers.get("Server-Timing", "")
        assert "db;dur=" in timing, (method, path, resp.status, timing)


async def test_get_has_etag_and_if_none_match_answers_304(api):
    user = await api.user()
    client = await api.client_of(user)
    path = f"/api/clients/{client['id']}"
    resp, body = await api.call("GET", path, user, expect=200)
    etag = resp.headers["ETag"]
    assert resp.headers["Cache-Control"] == "private, no-cache"
    resp, body = await api.call("GET", path, user, headers={"If-None-Match": etag}, expect=304)
    assert await resp.read() == b"" and body is None
    assert resp.headers["ETag"] == etag and "Server-Timing" in resp.headers
    resp, _ = await api.call("GET", path, user, headers={"If-None-Match": f'"other", W/{etag}'}, expect=304)
    await api.patch(path, user, json={"name": "Changed"})
    resp, body = await api.call("GET", path, user, headers={"If-None-Match": etag}, expect=200)
    assert body["name"] == "Changed" and resp.headers["ETag"] != etag
    resp, _ = await api.call("GET", "/api/clients", user, expect=200)
    list_etag = resp.headers["ETag"]
    assert resp.headers["Cache-Control"] == "private, no-cache"
    await api.call("GET", "/api/clients", user, headers={"If-None-Match": list_etag}, expect=304)


class _CuttableProxy:
    """A TCP proxy in front of the test PostgreSQL: cut() drops every connection and refuses new ones,
    which is what a database going away looks like to the service."""

    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        query = dict(parse_qsl(parts.query))
        host = query.pop("host", None) or parts.hostname or "localhost"
        port = int(query.pop("port", None) or parts.port or 5432)
        self._target = (host, port)
        self._parts, self._query = parts, query
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        userinfo = self._parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + f"127.0.0.1:{port}"
        return urlunsplit(self._parts._replace(netloc=netloc, query=urlencode(self._query)))

    async def _open_target(self):
        host, port = self._target
        if host.startswith("/"):
            return await asyncio.open_unix_connection(str(Path(host) / f".s.PGSQL.{port}"))
        return await asyncio.open_connection(host, port)

    async def _handle(self, reader, writer) -> None:
        up_reader, up_writer = await self._open_target()
        self._writers += [writer, up_writer]

        async def pipe(src, dst):
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.sleep(0.05)


@pytest.fixture
async def cuttable_db(database_url):
    proxy = _CuttableProxy(database_url)
    url = await proxy.start()
    yield proxy, url
    await proxy.cut()


async def test_database_unavailable_is_503_with_retry_after(make_api, settings, cuttable_db):
    proxy, url = cuttable_db
    api = await make_api(settings.replace(database_url=url, db_pool_size=1, db_max_overflow=1, db_pool_timeout=2.0))
    user = await api.user()
    await api.get("/api/auth/me", user)
    await proxy.cut()
    for method, path, kwargs in (("GET", "/api/clients", {}), ("POST", "/api/clients", {"json": {"name": "x"}}),
                                 ("POST", "/api/auth/login", {"json": {"email": user.email, "password": "password-123"}})):
        resp, body = await api.call(method, path, user, **kwargs)
        error = assert_error(resp, body, 503)
        assert int(resp.headers["Retry-After"]) >= 1, error


@pytest.fixture
async def own_database(pg_server):
    """A migrated database of its own (this test turns connections to it off), dropped afterwards."""
    import secrets

    import asyncpg
    from dbutil import create_database, drop_database
    admin_url, _ = pg_server
    name = f"cj_refusing_{secrets.token_hex(3)}"
    url = await create_database(admin_url, name, migrate=True)
    admin = await asyncpg.connect(admin_url)
    try:
        yield admin, name, url
    finally:
        await admin.close()
        await drop_database(admin_url, name)


async def test_a_database_refusing_connections_is_503_then_recovers(make_api, settings, own_database):
    admin, name, url = own_database
    api = await make_api(settings.replace(database_url=url, db_pool_size=1, db_max_overflow=1, db_pool_timeout=2.0))
    user = await api.user()
    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    # Several requests: the first may meet the killed connection, the next ones must reconnect and be refused.
    for _ in range(3):
        resp, body = await api.call("GET", "/api/clients", user)
        assert_error(resp, body, 503)
        assert "Retry-After" in resp.headers
    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    await api.call("GET", "/api/clients", user, expect=200)


async def _raw(api, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (the test client would refuse to) and read the whole answer."""
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/posts", "/metrics"])
@pytest.mark.parametrize("value", [b"Bearer \xff\xfe", b"Bearer t\xc3\x28k", b"Bearer \xe2\x80\x8b", b"\xff"])
async def test_a_malformed_authorization_header_is_401_never_500(make_api, settings, path, value):
    api = await make_api(settings.replace(metrics_token="scrape-" + "m" * 32))
    status, body = await _raw(api, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + value
                              + b"\r\nConnection: close\r\n\r\n")
    assert status == 401, body
    assert b'"code":"unauthorized"' in body


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register"])
async def test_public_endpoints_refuse_bodies_over_16_kib_before_parsing(api, path):
    huge = b'{"email": "a@b.co", "password": "' + b"p" * (16 * 1024) + b'"}'
    resp, body = await api.call("POST", path, data=huge, headers={"Content-Type": "application/json"})
    assert assert_error(resp, body, 413)["message"] == "request body is over 16 KiB"

    async def chunked():                       # no Content-Length: bounded while reading
        for _ in range(40):
            yield b" " * 1024
        yield b"{}"
    resp, body = await api.call("POST", path, data=chunked(), headers={"Content-Type": "application/json"})
    assert assert_error(resp, body, 413)["code"] == "payload_too_large"


async def test_every_problem_of_a_body_or_query_is_listed(api):
    """docs/API.md section 9: error.errors names every problem; field and message the first."""
    user = await api.user()
    resp, body = await api.call("POST", "/api/clients", user, json={"nmae": "typo", "email": "nope", "platforms": [1]})
    error = assert_error(resp, body, 422, field="nmae")
    assert error["errors"] == [{"field": "nmae", "message": "unknown field"},
                               {"field": "name", "message": "is required"},
                               {"field": "email", "message": "must be an email address"},
                               {"field": "platforms[0]", "message": "must be a string"}]
    project = await api.project_of(user)
    items = [{"project_id": project["id"], "content": "ok"}, {"project_id": project["id"]},
             {"project_id": project["id"], "content": "x", "variant": -1}]
    resp, body = await api.call("POST", "/api/posts", user, json={"items": items})
    error = assert_error(resp, body, 422, field="items[1].content")
    assert [e["field"] for e in error["errors"]] == ["items[1].content", "items[2].variant"]
    assert (await api.get(f"/api/posts?project_id={project['id']}", user))["metadata"]["total"] == 0
    resp, body = await api.call("GET", "/api/posts?has_cta=maybe&sort=new&min_word_count=-1", user)
    error = assert_error(resp, body, 400)
    assert {e["field"] for e in error["errors"]} == {"has_cta", "sort", "min_word_count"}


async def test_more_than_100_problems_are_cut_and_say_so(api):
    user = await api.user()
    resp, body = await api.call("POST", "/api/clients", user, json={f"f{i:03}": i for i in range(150)})
    error = assert_error(resp, body, 422, field="f000")
    assert len(error["errors"]) == 100 and error["errors_truncated"] is True
