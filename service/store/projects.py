"""Projects: sql/projects/."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import asyncpg

from service.db.registry import query
from service.store.lists import list_queries
from service.store.patterns import contains

LIST = list_queries("projects")
DELETE = query("projects/delete")
DELIVERY_CONTACT = query("projects/delivery_contact")
GET = query("projects/get")
INSERT = query("projects/insert")
OWNER = query("projects/owner")
OWNERS_OF = query("projects/owners_of")
UPDATE = query("projects/update")
VISIBLE = query("projects/visible")

# The project's own fields, as projects/insert.sql and projects/update.sql name them.
FIELDS = ("name", "status", "template_quantities", "num_posts", "price_per_post", "research_price_per_post",
          "total_price", "platforms", "tone")
MONEY = frozenset({"price_per_post", "research_price_per_post", "total_price"})


CENT = Decimal("0.01")


def money(value: float | int | Decimal | None) -> Decimal | None:
    """A JSON number as numeric: through its decimal text, so 19.99 stays 19.99; to the
    cent, rounded as numeric(12,2) rounds it (half away from zero), so that a total
    computed from prices is computed from the prices stored and shown."""
    return None if value is None else Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def list_filters(owner_id: UUID | None, *, status: str | None = None, client_id: UUID | None = None,
                 search: str | None = None) -> dict[str, Any]:
    """The filter block of every projects list query."""
    return {"owner_id": owner_id, "status": status, "client_id": client_id, "search": contains(search)}


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    return {name: money(values.get(name)) if name in MONEY else values.get(name) for name in FIELDS}


def detail(row: asyncpg.Record) -> dict:
    """A project row of projects/get.sql as the API shows it: post counts grouped."""
    project = dict(row)
    project["post_counts"] = {k: project.pop(k) for k in ("total", "approved", "flagged")}
    return project


async def insert(db, *, owner_id: UUID, client_id: UUID, values: dict[str, Any]) -> UUID:
    """The new project's id."""
    row = await db.fetchrow(INSERT, owner_id=owner_id, client_id=client_id, **_fields(values))
    return row["id"]


async def get(db, project_id: UUID, owner_id: UUID | None) -> asyncpg.Record | None:
    """The project with its post counts (total, approved, flagged), if the caller may see it."""
    return await db.fetchrow(GET, id=project_id, owner_id=owner_id)


async def update(db, project_id: UUID, owner_id: UUID | None, values: dict[str, Any],
                 client_id: UUID | None = None) -> asyncpg.Record | None:
    """Change the fields present in `values` (client_id among them moves the project)."""
    return await db.fetchrow(UPDATE, id=project_id, owner_id=owner_id, given=list(values), client_id=client_id,
                             **_fields(values))


async def delete(db, project_id: UUID, owner_id: UUID | None) -> bool:
    return await db.fetchrow(DELETE, id=project_id, owner_id=owner_id) is not None


async def owner_of(db, project_id: UUID, owner_id: UUID | None) -> UUID | None:
    """The owner of a project the caller may see."""
    return await db.fetchval(OWNER, id=project_id, owner_id=owner_id)


async def owners_of(db, project_ids: list[UUID], owner_id: UUID | None) -> dict[UUID, UUID]:
    """project id -> owner, for the projects among these that the caller may see."""
    return {r["id"]: r["owner_id"] for r in await db.fetch(OWNERS_OF, ids=project_ids, owner_id=owner_id)}


async def visible(db, project_id: UUID, owner_id: UUID | None) -> bool:
    return bool(await db.fetchval(VISIBLE, id=project_id, owner_id=owner_id))


async def delivery_contact(db, project_id: UUID) -> asyncpg.Record | None:
    """status, project_name, owner_id, client_name, client_email; locks the project row
    until the transaction ends."""
    return await db.fetchrow(DELIVERY_CONTACT, id=project_id)
