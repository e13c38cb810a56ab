"""Generation runs: sql/runs/."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from service.db.registry import query
from service.store.lists import list_queries

LIST = list_queries("runs")
GET = query("runs/get")
INSERT = query("runs/insert")
PROJECTS_OF = query("runs/projects_of")
UPDATE = query("runs/update")
VISIBLE = query("runs/visible")

FIELDS = ("status", "error_message", "logs")


def list_filters(owner_id: UUID | None, *, project_id: UUID | None = None) -> dict[str, Any]:
    """The filter block of every runs list query."""
    return {"owner_id": owner_id, "project_id": project_id}


async def insert(db, *, owner_id: UUID, project_id: UUID, values: dict[str, Any]) -> asyncpg.Record:
    return await db.fetchrow(INSERT, owner_id=owner_id, project_id=project_id, is_batch=values.get("is_batch"),
                             **{name: values.get(name) for name in FIELDS})


async def get(db, run_id: UUID, owner_id: UUID | None) -> asyncpg.Record | None:
    return await db.fetchrow(GET, id=run_id, owner_id=owner_id)


async def update(db, run_id: UUID, owner_id: UUID | None, values: dict[str, Any]) -> asyncpg.Record | None:
    return await db.fetchrow(UPDATE, id=run_id, owner_id=owner_id, given=list(values),
                             **{name: values.get(name) for name in FIELDS})


async def projects_of(db, run_ids: list[UUID], owner_id: UUID | None) -> dict[UUID, UUID]:
    """run id -> its project id, for the runs among these that the caller may see."""
    if not run_ids:
        return {}
    return {r["id"]: r["project_id"] for r in await db.fetch(PROJECTS_OF, ids=run_ids, owner_id=owner_id)}


async def visible(db, run_id: UUID, owner_id: UUID | None) -> bool:
    return bool(await db.fetchval(VISIBLE, id=run_id, owner_id=owner_id))
