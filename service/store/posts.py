"""Posts: sql/posts/."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import orjson

from service.db.registry import query
from service.store.lists import list_queries
from service.store.patterns import contains
from service.store.trigrams import rare_search_index_pattern, search_index_pattern

LIST = list_queries("posts", text_index_pattern=search_index_pattern, text_rare_pattern=rare_search_index_pattern,
                    tally_scopes=frozenset({"project_id", "run_id"}))
DELETE = query("posts/delete")
GET = query("posts/get")
INSERT_MANY = query("posts/insert_many")
LOCK = query("posts/lock")
UPDATE = query("posts/update")
SAMPLE_IDS = query("posts/sample_ids")
CONTENTS_OF = query("posts/contents_of")

# The post's own fields, as posts/insert_many.sql and posts/update.sql name them.
FIELDS = ("run_id", "content", "template_id", "template_name", "variant", "word_count", "readability_score",
          "has_cta", "status", "flags", "target_platform")


def list_filters(owner_id: UUID | None, *, project_id: UUID | None = None, run_id: UUID | None = None,
                 status: str | None = None, platform: str | None = None, has_cta: bool | None = None,
                 template_name: str | None = None, needs_review: bool | None = None, search: str | None = None,
                 min_word_count: int | None = None, max_word_count: int | None = None,
                 min_readability: float | None = None, max_readability: float | None = None) -> dict[str, Any]:
    """The filter block of every posts list query (visible_posts(), migration 0011)."""
    return {"owner_id": owner_id, "project_id": project_id, "run_id": run_id, "status": status,
            "platform": platform, "has_cta": has_cta, "template_name": contains(template_name),
            "needs_review": needs_review, "search": contains(search), "min_word_count": min_word_count,
            "max_word_count": max_word_count, "min_readability": min_readability,
            "max_readability": max_readability}


async def insert_many(db, posts: list[dict[str, Any]], owners: dict[UUID, UUID]) -> list[asyncpg.Record]:
    """Insert complete posts (every field of FIELDS and project_id) in one statement, each
    owned by its project's owner (`owners`: project id -> owner); the rows in order."""
    columns = {name: [post.get(name) for post in posts] for name in FIELDS if name != "flags"}
    # A text[] of JSON arrays: one flags list per row (a list of lists would have to be rectangular).
    columns["flags"] = [orjson.dumps(post["flags"]).decode() for post in posts]
    return await db.fetch(INSERT_MANY, owner_id=[owners[post["project_id"]] for post in posts],
                          project_id=[post["project_id"] for post in posts], **columns)


async def get(db, post_id: UUID, owner_id: UUID | None) -> asyncpg.Record | None:
    return await db.fetchrow(GET, id=post_id, owner_id=owner_id)


async def lock(db, post_id: UUID, owner_id: UUID | None) -> asyncpg.Record | None:
    """project_id and content of a post the caller may see, locked until the transaction ends."""
    return await db.fetchrow(LOCK, id=post_id, owner_id=owner_id)


async def update(db, post_id: UUID, owner_id: UUID | None, values: dict[str, Any]) -> asyncpg.Record | None:
    """Change the fields present in `values`; None when the caller has no such post."""
    return await db.fetchrow(UPDATE, id=post_id, owner_id=owner_id, given=list(values),
                             **{name: values.get(name) for name in FIELDS})


async def delete(db, post_id: UUID, owner_id: UUID | None) -> bool:
    return await db.fetchrow(DELETE, id=post_id, owner_id=owner_id) is not None


async def sample_ids(db, count: int) -> list[str]:
    """Some existing post ids, as text (the benchmark's fixtures)."""
    return [r["id"] for r in await db.fetch(SAMPLE_IDS, count=count)]


async def contents_of(db, ids: list[str]) -> dict[str, str]:
    """id -> content of the given posts as the database has them now."""
    return {r["id"]: r["content"] for r in await db.fetch(CONTENTS_OF, ids=ids)}
