"""Security headers on every response (successes, errors, 404, 405, 304, /metrics,
aiohttp's own 400 for malformed HTTP), no Server version, and METRICS_TOKEN opening
/metrics and the read-only admin health routes to scrapers (and nothing else)."""
from __future__ import annotations

import asyncio

from service.api.routes import ROUTES
from service.http.security_headers import API_CSP, HTML_CSP, SERVER, apply

METRICS_TOKEN = "scraper-secret-token"


def assert_secure(resp) -> None:
    headers = resp.headers
    where = f"{resp.method} {resp.url.path} {resp.status}"
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Content-Security-Policy") == API_CSP, where
    assert headers.get("Server") == SERVER, where


async def test_every_kind_of_response_carries_the_security_headers(api):
    user = await api.user()
    client = await api.client_of(user)
    resp, _ = await api.call("GET", f"/api/clients/{client['id']}", user, expect=200)
    assert_secure(resp)
    etag = resp.headers["ETag"]
    resp, _ = await api.call("GET", f"/api/clients/{client['id']}", user, expect=304,
                             headers={"If-None-Match": etag})
    assert_secure(resp)
    for method, path, who, status in (
            ("GET", "/api/health", None, 200),
            ("GET", "/api/clients", None, 401),
            ("GET", "/api/health/database", user, 403),
            ("GET", "/no/such/route", None, 404),
            ("PUT", "/api/health", None, 405),
            ("GET", "/api/clients?page=0", user, 400),
            ("POST", "/api/clients", user, 422),
            ("DELETE", f"/api/clients/{client['id']}", user, 204),
            ("GET", "/metrics", None, 200)):
        kwargs = {"json": {"nope": 1}} if method == "POST" else {}
        resp, _ = await api.call(method, path, who, expect=status, **kwargs)
        assert_secure(resp)


async def test_aiohttp_own_400_for_malformed_http_names_no_version(api):
    """A request line that is not HTTP never reaches the application; aiohttp answers
    it itself, and even then the Server header carries no Python or aiohttp version."""
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    try:
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        head = (await asyncio.wait_for(reader.read(), timeout=60)).decode("latin-1")   # it closes
    finally:
        writer.close()
    assert head.split("\r\n", 1)[0].split(" ")[1] == "400", head
    assert f"\r\nServer: {SERVER}\r\n" in head, head
    assert "aiohttp" not in head.lower() and "python" not in head.lower(), head


def test_html_gets_the_strict_policy_and_a_handler_policy_is_kept():
    from aiohttp import web

    page = web.Response(text="<p>hi</p>", content_type="text/html")
    apply(page)
    assert page.headers["Content-Security-Policy"] == HTML_CSP
    assert "'unsafe-inline'" not in HTML_CSP and "frame-ancestors 'none'" in HTML_CSP
    own = web.Response(text="<p>hi</p>", content_type="text/html",
                       headers={"Content-Security-Policy": "default-src 'self'"})
    apply(own)
    assert own.headers["Content-Security-Policy"] == "default-src 'self'"
    data = web.json_response({"a": 1})
    apply(data)
    assert data.headers["Content-Security-Policy"] == API_CSP


SCRAPER_READS = sorted(f"{r.method} {r.path}" for r in ROUTES if r.auth == "admin_or_metrics")


def test_the_scraper_routes_are_exactly_the_read_only_admin_health_gets():
    assert SCRAPER_READS == sorted([
        "GET /api/health/database", "GET /api/health/database/events", "GET /api/health/cache",
        "GET /api/health/profiling", "GET /api/health/profiling/queries",
        "GET /api/health/profiling/slow-queries", "GET /api/health/full", "GET /api/health/jobs"])
    assert all(r.method == "GET" for r in ROUTES if r.auth == "admin_or_metrics")


async def test_metrics_token_opens_metrics_and_admin_health_reads_only(make_api, settings):
    api = await make_api(settings.replace(metrics_token=METRICS_TOKEN))
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    wrong = {"Authorization": "Bearer not-the-token"}
    resp, _ = await api.call("GET", "/metrics", headers=scraper, expect=200)
    assert_secure(resp)
    await api.call("GET", "/metrics", expect=401)
    await api.call("GET", "/metrics", headers=wrong, expect=401)
    admin, user = await api.user(admin=True), await api.user()
    for route in SCRAPER_READS:
        path = route.split(" ", 1)[1]
        await api.call("GET", path, headers=scraper, expect=200)
        await api.call("GET", path, admin, expect=200)      # an admin's token still works
        await api.call("GET", path, user, expect=403)
        await api.call("GET", path, headers=wrong, expect=401)
        await api.call("GET", path, expect=401)
    # Writes stay admin-only: the scraper token is not a user token.
    for path in ("/api/health/cache/clear", "/api/health/cache/reset-stats", "/api/health/profiling/reset"):
        await api.call("POST", path, headers=scraper, expect=401)
        await api.call("POST", path, admin, expect=200)
    # ... and it opens nothing a user token opens.
    await api.call("GET", "/api/auth/me", headers=scraper, expect=401)
    await api.call("GET", "/api/clients", headers=scraper, expect=401)
