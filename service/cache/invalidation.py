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

Both are also scoped to the rows changed, where that is known: a create drops the
owner's lists of the table but no detail (a new row has no cached detail: a 404 is
never cached), a change of one row (`PATCH`/`DELETE /api/posts/{id}`) its lists and
that row's details. Locally a route says which it is (`rows` in api/routes.py); the
triggers (migration 0100) say it in the payload: `posts:<owner>:+` for new rows,
`posts:<owner>:<id>,<id>,...` for up to 100 changed rows, `posts:<owner>` beyond.
Other namespaces fed by the table are dropped for the whole owner, except where the
table feeds only their details (DETAILS_ONLY): a post's project carries post counts in
its detail, not in the projects list, so a post write drops the owner's (and admin's)
project details and keeps their projects lists.

Handlers commit before they return, so the local hook, which the request
middleware runs once the handler has returned, acts after the commit: a reader
between commit and invalidation may still load old rows, but the cache's
generation check refuses to store them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from aiohttp import web

from service import keys
from service.cache.response_cache import EVERY_DETAIL, NAMESPACES, ChangedRows

# What a write route changes in the first table it writes (Route.rows, api/routes.py):
OWNER_ROWS = "owner"    # any of the owner's rows: every answer of the owner
NEW_ROWS = "new"        # only rows it creates: the owner's lists, no detail
PATH_ROW = "path"       # the one row named by {id} in its path: the lists and that row's details
# A payload's rows part for "new rows only".
NEW_ROWS_MARK = "+"

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
# table -> those of its namespaces in which a change to it alters detail answers only, never a
# list: a project's detail shows post counts (sql/projects/get.sql), the projects list shows no
# figure drawn from posts (sql/projects/list_*.sql).
DETAILS_ONLY: dict[str, frozenset[str]] = {"posts": frozenset({"projects"})}


def namespaces_fed_by(tables: Iterable[str]) -> tuple[str, ...]:
    """The namespaces a change to these tables can alter; every namespace for an unknown table."""
    found: list[str] = []
    for table in tables:
        for namespace in TABLE_NAMESPACES.get(table, NAMESPACES):
            if namespace not in found:
                found.append(namespace)
    return tuple(found)


def _details_only(tables: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """EVERY_DETAIL for each namespace these tables feed through its details alone."""
    def details_only(namespace: str) -> bool:
        feeders = [table for table in tables if namespace in TABLE_NAMESPACES.get(table, NAMESPACES)]
        return bool(feeders) and all(namespace in DETAILS_ONLY.get(table, ()) for table in feeders)
    return {namespace: EVERY_DETAIL for namespace in namespaces_fed_by(tables) if details_only(namespace)}


def changed_rows(tables: tuple[str, ...], rows: str, path_id: str | None) -> ChangedRows:
    """What a write route changed, per namespace narrower than the owner: EVERY_DETAIL
    where its tables feed details alone, and in its first table's namespace (its name)
    the rows its Route.rows says."""
    return {**_details_only(tables), **_first_table_rows(tables, rows, path_id)}


def _first_table_rows(tables: tuple[str, ...], rows: str, path_id: str | None) -> ChangedRows:
    if not tables or tables[0] not in TABLE_NAMESPACES.get(tables[0], ()):
        return {}
    if rows == NEW_ROWS:
        return {tables[0]: frozenset()}
    if rows == PATH_ROW and path_id is not None:
        try:
            return {tables[0]: frozenset((str(UUID(path_id)),))}     # as cached: the canonical form
        except ValueError:
            return {}
    return {}


class WriteInvalidation:
    """The AFTER_WRITE hook: drop what a successful write can have changed."""

    def __init__(self, write_tables: Mapping[tuple[str, str], tuple[str, ...]],
                 write_rows: Mapping[tuple[str, str], str] | None = None) -> None:
        self.namespaces = {route: namespaces_fed_by(tables) for route, tables in write_tables.items()}
        self.tables = dict(write_tables)
        self.rows = dict(write_rows or {})

    async def __call__(self, request: web.Request) -> None:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else ""
        # A write route missing from the table drops everything: a forgotten entry
        # must cost hit rate, never correctness.
        namespaces = self.namespaces.get((request.method, template), NAMESPACES)
        if namespaces:
            user = request.get(keys.USER)
            owner = None if user is None or user.is_admin else str(user.id)
            route = (request.method, template)
            rows = changed_rows(self.tables.get(route, ()), self.rows.get(route, OWNER_ROWS),
                                request.match_info.get("id"))
            await request.app[keys.CACHE].invalidate(namespaces, owner, rows)


def parse_notification(payload: str) -> tuple[tuple[str, ...], str | None, ChangedRows]:
    """(namespaces, owner, changed rows) of a NOTIFY payload `table`, `table:owner_id`,
    `table:owner_id:+` (new rows only) or `table:owner_id:id,id,...`."""
    table, _, rest = payload.partition(":")
    owner, _, ids = rest.partition(":")
    rows: dict[str, frozenset[str]] = {}
    if owner:
        rows = _details_only((table,))
        if ids:
            rows[table] = frozenset() if ids == NEW_ROWS_MARK else frozenset(ids.split(","))
    return namespaces_fed_by((table,)), owner or None, rows
