"""Security headers on every response, and a Server header without a version.

The request middleware calls `apply(response)` on every response the application
answers (successes, errors, 404/405, 304, /metrics). A handler that prepares its own
StreamResponse (streams before returning) must call `apply` before `prepare`.

- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
  `X-Frame-Options: DENY` everywhere;
- `Content-Security-Policy`: for HTML pages a strict same-origin policy (scripts,
  styles, images, fonts and fetches from the service itself only; no inline script,
  no framing, no plugins); for everything else (JSON, Prometheus text)
  `default-src 'none'; frame-ancestors 'none'`. A handler that sets its own
  Content-Security-Policy keeps it.
- `Server`: aiohttp announces `Python/3.x aiohttp/3.x`; `hide_server_version()` makes
  it name the service alone, also on the 400s aiohttp writes itself for malformed
  HTTP, which never reach the application.

HSTS is left to the TLS terminator in front (the service speaks plain HTTP).
"""
from __future__ import annotations

from aiohttp import web, web_response

SERVER = "content-jumpstart"

API_CSP = "default-src 'none'; frame-ancestors 'none'"
HTML_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

_ALWAYS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
           ("X-Frame-Options", "DENY"))


def apply(response: web.StreamResponse) -> None:
    headers = response.headers
    for name, value in _ALWAYS:
        headers[name] = value
    if "Content-Security-Policy" not in headers:
        html = headers.get("Content-Type", "").startswith("text/html")
        headers["Content-Security-Policy"] = HTML_CSP if html else API_CSP


def hide_server_version() -> None:
    """aiohttp has no setting for its Server header: it fills it with setdefault from
    this module global at prepare time, for every response including its own 400s."""
    web_response.SERVER_SOFTWARE = SERVER
