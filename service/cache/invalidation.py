"""Cache invalidation, declared once: which cached namespaces each table feeds.

Two roads use this one map:
- locally, after every successful write and before the response, the namespaces
  fed by the tables the route writes (its `writes` in api/routes.py) are dropped,
  so the writer's next read is fresh without waiting for its own notification;
- across workers and instances, the NOTIFY that the triggers send with a table's
  name and the owner of the changed rows when a change commits (cache/feed.py).

Both are scoped to the owner whose rows changed: that owner's entries and the
admin's are dropped, other users' stay. A user can change only their own rows, so
a user's write is scoped to the user; an admin's write (any owner) drops the whole
namespace locally, and the notifications scope it for the other processes.

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
            user = request.get(keys.USER)
            owner = None if user is None or user.is_admin else str(user.id)
            await request.app[keys.CACHE].invalidate(namespaces, owner)


def parse_notification(payload: str) -> tuple[tuple[str, ...], str | None]:
    """(namespaces, owner) of a NOTIFY payload `table` or `table:owner_id`."""
    table, _, owner = payload.partition(":")
    return namespaces_fed_by((table,)), owner or None
