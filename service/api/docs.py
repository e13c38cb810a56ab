"""GET /api/openapi.json and GET /api/docs: the OpenAPI document and its interactive page.

The document is built once per process from the route table and the schemas
(service/api/openapi.py). The page is Swagger UI, served from the files of the
swagger-ui-bundle-v2 package (no CDN, no network at run time), with a strict
Content-Security-Policy: scripts, styles, images and fetches from this origin only,
no inline script (the start-up code is docs_static/init.js).
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from service import keys
from service.api.openapi import document
from service.http.responses import _etag_matches, etag_for
from service.jsonutil import dumps

OWN = Path(__file__).with_name("docs_static")
SWAGGER = Path(swagger_ui_path)

# Swagger UI sets element styles from script (allowed) and shows data: SVG icons.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
                           "frame-ancestors 'none'")
_HEADERS = {"Cache-Control": "no-cache"}      # revalidate with the ETag: a new release is seen at once


class _Static:
    __slots__ = ("body", "content_type", "headers")

    def __init__(self, path: Path, content_type: str, **headers: str) -> None:
        self.body = path.read_bytes()
        self.content_type = content_type
        self.headers = {**_HEADERS, **headers, "ETag": etag_for(self.body)}

    def respond(self, request: web.Request) -> web.Response:
        if _etag_matches(request.headers.get("If-None-Match"), self.headers["ETag"]):
            return web.Response(status=304, headers=self.headers)
        return web.Response(body=self.body, content_type=self.content_type, charset="utf-8", headers=self.headers)


@cache
def _asset(name: str) -> _Static:
    files = {
        "page": (OWN / "docs.html", "text/html", {"Content-Security-Policy": CONTENT_SECURITY_POLICY}),
        "init": (OWN / "init.js", "text/javascript", {}),
        "bundle": (SWAGGER / "swagger-ui-bundle.js", "text/javascript", {}),
        "css": (SWAGGER / "swagger-ui.css", "text/css", {}),
    }
    path, content_type, headers = files[name]
    return _Static(path, content_type, **headers)


_documents: dict[int, _Static] = {}


async def openapi_json(request: web.Request) -> web.Response:
    max_page_size = request.app[keys.SETTINGS].max_page_size
    static = _documents.get(max_page_size)
    if static is None:
        static = _documents[max_page_size] = _Static.__new__(_Static)
        static.body = dumps(document(max_page_size))
        static.content_type = "application/json"
        static.headers = {**_HEADERS, "ETag": etag_for(static.body)}
    return static.respond(request)


async def docs_page(request: web.Request) -> web.Response:
    return _asset("page").respond(request)


async def docs_script(request: web.Request) -> web.Response:
    return _asset("init").respond(request)


async def swagger_bundle(request: web.Request) -> web.Response:
    return _asset("bundle").respond(request)


async def swagger_style(request: web.Request) -> web.Response:
    return _asset("css").respond(request)
