"""Invalidate the local cache after every successful write, before the response.

Handlers commit before they return, so this hook, which the request middleware
runs once the handler has returned, acts after the commit: a reader between commit and
invalidation may still load old rows, but the cache's generation check refuses
to store them. Other processes hear of the same write through NOTIFY
(cache_feed.py).
"""
from __future__ import annotations

from aiohttp import web

from . import keys
from .cache import NAMESPACES

# (method, route template) -> namespaces a successful call can change.
WRITE_INVALIDATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/api/clients"): ("clients",),
    ("PATCH", "/api/clients/{id}"): ("clients",),
    ("DELETE", "/api/clients/{id}"): ("clients", "projects", "runs", "posts"),
    ("POST", "/api/projects"): ("projects",),
    ("PATCH", "/api/projects/{id}"): ("projects",),
    ("DELETE", "/api/projects/{id}"): ("projects", "runs", "posts"),
    ("POST", "/api/projects/{id}/runs"): ("runs",),
    ("PATCH", "/api/runs/{id}"): ("runs",),
    ("POST", "/api/posts"): ("posts", "projects"),
    ("PATCH", "/api/posts/{id}"): ("posts", "projects"),
    ("DELETE", "/api/posts/{id}"): ("posts", "projects"),
    ("POST", "/api/auth/logout"): ("users",),
    # Writes that change no cached answer.
    ("POST", "/api/auth/register"): (),
    ("POST", "/api/auth/login"): (),
}
async def invalidate_after_write(request: web.Request) -> None:
    """AFTER_WRITE hook: drop what a successful write can have changed."""
    route = request.match_info.route.resource
    template = route.canonical if route is not None else ""
    if template.startswith("/api/health") or template == "/metrics":
        return                   # monitoring endpoints manage the cache themselves
    # An unlisted write route drops everything: a forgotten entry must cost hit
    # rate, never correctness.
    namespaces = WRITE_INVALIDATES.get((request.method, template), NAMESPACES)
    if namespaces:
        await request.app[keys.CACHE].invalidate(namespaces)
