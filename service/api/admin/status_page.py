"""GET /api/health/dashboard (+ /app.js, /app.css): the admin status page.

A browser cannot send a bearer token when it navigates, so the page and its two
assets are public and hold no data: its script asks for an admin's credentials
(POST /api/auth/login), keeps the token in sessionStorage, and polls the admin
endpoints (/api/health/full, /database, /cache, /profiling) with it every 2 s.
Everything comes from service/api/admin/static/ (no CDN, no network at run time),
read once at import; the strict Content-Security-Policy allows only this origin's
script, style and fetches.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from service.http.responses import _etag_matches, etag_for

STATIC = Path(__file__).with_name("static")

# default-src 'none': anything not listed is refused (no inline script or style,
# no frames, no plugins, no images, no fonts); forms cannot post anywhere natively
# (the script sends the login itself), and no other site may frame the page.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                           "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                   "Cache-Control": "no-cache"}      # revalidate (ETag) so a new release is seen at once


class _Asset:
    __slots__ = ("body", "content_type", "etag", "headers")

    def __init__(self, name: str, content_type: str, **headers: str) -> None:
        self.body = (STATIC / name).read_bytes()
        self.content_type = content_type
        self.etag = etag_for(self.body)
        self.headers = {**_COMMON_HEADERS, **headers, "ETag": self.etag}

    def respond(self, request: web.Request) -> web.Response:
        if _etag_matches(request.headers.get("If-None-Match"), self.etag):
            return web.Response(status=304, headers=self.headers)
        return web.Response(body=self.body, content_type=self.content_type, charset="utf-8", headers=self.headers)


_PAGE = _Asset("dashboard.html", "text/html", **{"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                                   "X-Frame-Options": "DENY"})
_SCRIPT = _Asset("dashboard.js", "text/javascript")
_STYLE = _Asset("dashboard.css", "text/css")


async def status_page(request: web.Request) -> web.Response:
    return _PAGE.respond(request)


async def status_page_script(request: web.Request) -> web.Response:
    return _SCRIPT.respond(request)


async def status_page_style(request: web.Request) -> web.Response:
    return _STYLE.respond(request)
