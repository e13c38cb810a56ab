"""Cache invalidation, declared once: which cached namespaces each table feeds.

Two roads use this one map:
- locally, after every successful write and before the response, the namespaces
  fed by the tables the route writes (its `writes` in api/routes.py) are dropped,
  so the writer's next read is fresh without waiting for its own notification;
- across workers and instances, the NOTIFY that the triggers of migration 0010
  send with a table's name when a change commits (cache/feed.py).

Handlers commit before they return, so the local hook, which the request
middleware runs once the handler has returned, acts after the commit: a reader
between commit and invalidation may still load old rows, but the cache's
generation check refuses to store them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiohttp import web

from service import keys
from service.cache.response_cache import NAMESPACES

# table -> namespaces whose cached answers a change to it can alter
TABLE_NAMESPACES: dict[str, tuple[str, ...]] = {
    "clients": ("clients",),
    "projects": ("projects",),
    "runs": ("runs",),
    "posts": ("posts", "projects"),        # project detail carries post_counts
    "users": ("users",),
    "access_tokens": ("users",),           # the token -> user entries
    "jobs": (),                            # job answers are never cached (they change as workers run)
}


def namespaces_fed_by(tables: Iterable[str]) -> tuple[str, ...]:
    """The namespaces a change to these tables can alter; every namespace for an unknown table."""
    found: list[str] = []
    for table in tables:
        for namespace in TABLE_NAMESPACES.get(table, NAMESPACES):
            if namespace not in found:
                found.append(namespace)
    return tuple(found)


class WriteInvalidation:
    """The AFTER_WRITE hook: drop what a successful write can have changed."""

    def __init__(self, write_tables: Mapping[tuple[str, str], tuple[str, ...]]) -> None:
        self.namespaces = {route: namespaces_fed_by(tables) for route, tables in write_tables.items()}

    async def __call__(self, request: web.Request) -> None:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else ""
        # A write route missing from the table drops everything: a forgotten entry
        # must cost hit rate, never correctness.
        namespaces = self.namespaces.get((request.method, template), NAMESPACES)
        if namespaces:
            await request.app[keys.CACHE].invalidate(namespaces)
