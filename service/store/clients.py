"""Clients: sql/clients/."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from service.db.registry import query
from service.store.lists import list_queries
from service.store.patterns import contains

LIST = list_queries("clients")
DELETE = query("clients/delete")
GET = query("clients/get")
INSERT = query("clients/insert")
OWNER = query("clients/owner")
UPDATE = query("clients/update")
VISIBLE = query("clients/visible")

# The client's own fields, as clients/insert.sql and clients/update.sql name them.
FIELDS = ("name", "email", "business_description", "ideal_customer", "main_problem_solved", "tone_preference",
          "platforms", "customer_pain_points", "customer_questions")


def list_filters(owner_id: UUID | None, *, search: str | None = None) -> dict[str, Any]:
    """The filter block of every clients list query."""
    return {"owner_id": owner_id, "search": contains(search)}


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    return {name: values.get(name) for name in FIELDS}


async def insert(db, *, owner_id: UUID, values: dict[str, Any]) -> asyncpg.Record:
    return await db.fetchrow(INSERT, owner_id=owner_id, **_fields(values))


async def get(db, client_id: UUID, owner_id: UUID | None) -> asyncpg.Record | None:
    return await db.fetchrow(GET, id=client_id, owner_id=owner_id)


async def update(db, client_id: UUID, owner_id: UUID | None, values: dict[str, Any]) -> asyncpg.Record | None:
    """Change the fields present in `values` (None sets NULL); None when the caller has no such client."""
    return await db.fetchrow(UPDATE, id=client_id, owner_id=owner_id, given=list(values), **_fields(values))


async def delete(db, client_id: UUID, owner_id: UUID | None) -> bool:
    """Delete with its projects, runs and posts; False when the caller has no such client."""
    return await db.fetchrow(DELETE, id=client_id, owner_id=owner_id) is not None


async def owner_of(db, client_id: UUID, owner_id: UUID | None) -> UUID | None:
    """The owner of a client the caller may see."""
    return await db.fetchval(OWNER, id=client_id, owner_id=owner_id)


async def visible(db, client_id: UUID, owner_id: UUID | None) -> bool:
    return bool(await db.fetchval(VISIBLE, id=client_id, owner_id=owner_id))


