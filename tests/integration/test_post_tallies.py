"""Maintained post counts (migration 0110, README "Pagination" > Totals).

The tallies must equal a count of the posts after every kind of change (batch inserts,
updates that move posts between tallies or not, deletes, a run's deletion setting
run_id NULL, a project's deletion cascading, TRUNCATE, concurrent writers), and a list
within a project or a run takes its exact total from them, at any size, with no count
query, for an owner and for the admin.
"""
from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import asyncpg
import pytest
from dbutil import scratch_database

# The same grouping as the tallies, from the posts themselves.
COUNTED = """
SELECT owner_id, project_id, run_id, status, cardinality(flags) > 0 AS needs_review, count(*) AS posts
FROM posts
WHERE owner_id = ANY($1::uuid[])
GROUP BY 1, 2, 3, 4, 5
"""
TALLIED = """
SELECT owner_id, project_id, run_id, status, needs_review, posts
FROM post_tallies
WHERE owner_id = ANY($1::uuid[]) AND posts <> 0
"""

# Two projects of one owner, each with two runs; `n` posts spread over projects, runs
# (every fifth post has none), statuses and flags.
ARRANGE = """
WITH client AS (
    INSERT INTO clients (owner_id, name) VALUES ($1, 'client') RETURNING id
), made AS (
    INSERT INTO projects (owner_id, client_id, name)
    SELECT $1, client.id, 'project ' || g FROM client, generate_series(1, 2) AS g
    RETURNING id
)
INSERT INTO runs (owner_id, project_id, status)
SELECT $1, made.id, 'succeeded' FROM made, generate_series(1, 2)
"""
POSTS = """
INSERT INTO posts (owner_id, project_id, run_id, content, word_count, status, flags)
SELECT $1, r.project_id, CASE WHEN g % 5 = 0 THEN NULL ELSE r.id END, 'post ' || g, 10,
       CASE WHEN g % 7 = 0 THEN 'flagged' ELSE 'approved' END,
       CASE WHEN g % 3 = 1 THEN ARRAY['too_long'] ELSE ARRAY[]::text[] END
FROM generate_series(1, $2) AS g
JOIN LATERAL (SELECT id, project_id FROM runs WHERE owner_id = $1 ORDER BY id OFFSET g % 4 LIMIT 1) AS r ON true
"""


def as_set(rows) -> set[tuple]:
    return {tuple(row) for row in rows}


async def assert_tallies_match(conn, *owners: str) -> None:
    owners_list = list(owners)
    assert as_set(await conn.fetch(TALLIED, owners_list)) == as_set(await conn.fetch(COUNTED, owners_list))


async def make_owner(conn, email: str) -> str:
    return str(await conn.fetchval(
        "INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id", email))


async def test_tallies_follow_every_kind_of_change(pg_server):
    async with scratch_database(pg_server[0], "cj_tallies") as url:
        conn = await asyncpg.connect(url)
        try:
            owner, other = await make_owner(conn, "a@example.com"), await make_owner(conn, "b@example.com")
            for user in (owner, other):
                await conn.execute(ARRANGE, user)
                await conn.execute(POSTS, user, 400)
            await assert_tallies_match(conn, owner, other)

            # Updates that move posts between tallies: status, flags, run, project.
            await conn.execute("UPDATE posts SET status = 'flagged' WHERE owner_id = $1 AND word_count = 10 "
                               "AND content LIKE '%1'", owner)
            await conn.execute("UPDATE posts SET flags = ARRAY['a', 'b'] WHERE owner_id = $1 AND content LIKE '%2'",
                               owner)
            await conn.execute("UPDATE posts SET flags = '{}' WHERE owner_id = $1 AND content LIKE '%4'", owner)
            await conn.execute(
                "UPDATE posts SET run_id = NULL, project_id = (SELECT min(id::text)::uuid FROM projects "
                "WHERE owner_id = $1) WHERE owner_id = $1 AND content LIKE '%7'", owner)
            await assert_tallies_match(conn, owner, other)
            # An update of columns the tallies do not hold writes no tally.
            versions = "SELECT array_agg(ctid::text ORDER BY ctid) FROM post_tallies"
            before = await conn.fetchval(versions)
            await conn.execute("UPDATE posts SET content = content || '!' WHERE owner_id = $1", owner)
            assert await conn.fetchval(versions) == before     # no tally row was rewritten
            await assert_tallies_match(conn, owner, other)

            # Deletes: some posts; a run (its posts keep their project, run_id NULL); a project (cascade).
            await conn.execute("DELETE FROM posts WHERE owner_id = $1 AND content LIKE '%3%'", owner)
            await conn.execute("DELETE FROM runs WHERE id = (SELECT id FROM runs WHERE owner_id = $1 ORDER BY id "
                               "LIMIT 1)", owner)
            await assert_tallies_match(conn, owner, other)
            await conn.execute("DELETE FROM projects WHERE id = (SELECT id FROM projects WHERE owner_id = $1 "
                               "ORDER BY id LIMIT 1)", owner)
            await assert_tallies_match(conn, owner, other)
            # A user's deletion cascades to everything of theirs; the other owner's tallies stay.
            await conn.execute("DELETE FROM users WHERE id = $1", owner)
            assert await conn.fetchval("SELECT coalesce(sum(posts), 0) FROM post_tallies WHERE owner_id = $1",
                                       owner) == 0
            await assert_tallies_match(conn, other)

            await conn.execute("TRUNCATE posts")
            assert await conn.fetchval("SELECT count(*) FROM post_tallies") == 0
            await conn.execute(POSTS, other, 40)
            await assert_tallies_match(conn, other)
        finally:
            await conn.close()


async def test_concurrent_writers_into_the_same_tallies_count_every_post(pg_server):
    """Writers adding and deleting posts of the same runs at once: they queue on the
    tally rows (no deadlock: rows are upserted in key order) and every post is counted."""
    async with scratch_database(pg_server[0], "cj_tallies_concurrent") as url:
        setup = await asyncpg.connect(url)
        owner = await make_owner(setup, "c@example.com")
        await setup.execute(ARRANGE, owner)
        await setup.close()
        pool = await asyncpg.create_pool(url, min_size=8, max_size=8)
        try:
            async def writer(index: int) -> None:
                for _ in range(10):
                    async with pool.acquire() as conn, conn.transaction():
                        await conn.execute(POSTS, owner, 20 + index)
                        await conn.execute(
                            "DELETE FROM posts WHERE id IN (SELECT id FROM posts WHERE owner_id = $1 "
                            "ORDER BY random() LIMIT 5)", owner)

            await asyncio.gather(*(writer(i) for i in range(8)))
            async with pool.acquire() as conn:
                await assert_tallies_match(conn, owner)
                assert await conn.fetchval("SELECT sum(posts) FROM post_tallies") == await conn.fetchval(
                    "SELECT count(*) FROM posts")
        finally:
            await pool.close()


async def executions(api, admin) -> dict[str, int]:
    body = await api.get("/api/health/profiling/queries?limit=1000", admin)
    return {item["name"]: item["execution_count"] for item in body["items"]}


@pytest.mark.parametrize("narrowing", [{}, {"status": "flagged"}, {"needs_review": "true"},
                                       {"status": "approved", "needs_review": "false"}])
async def test_a_list_within_a_project_or_run_has_its_exact_total_from_the_tallies(
        make_api, settings, db_conn, narrowing):
    """COUNT_EXACT_LIMIT far below the list: still exact, not flagged, and no count query
    ran (neither the capped count nor the planner's estimate)."""
    api = await make_api(settings.replace(cache_enabled=False, profiling_enabled=True, count_exact_limit=5))
    admin, user = await api.user(admin=True), await api.user()
    await db_conn.execute(ARRANGE, user.id)
    await db_conn.execute(POSTS, user.id, 300)
    parents = await db_conn.fetchrow(
        "SELECT project_id, run_id FROM posts WHERE owner_id = $1 AND run_id IS NOT NULL LIMIT 1", user.id)
    for parent in ("project_id", "run_id"):
        want = await db_conn.fetchval(
            f"SELECT count(*) FROM posts WHERE {parent} = $1 AND ($2::text IS NULL OR status = $2) "
            "AND ($3::boolean IS NULL OR (cardinality(flags) > 0) = $3)",
            parents[parent], narrowing.get("status"),
            None if "needs_review" not in narrowing else narrowing["needs_review"] == "true")
        assert want > 5
        for caller in (user, admin):
            query = urlencode({parent: str(parents[parent]), **narrowing, "page_size": 5})
            meta = (await api.get(f"/api/posts?{query}", caller))["metadata"]
            assert (meta["total"], meta["total_is_estimate"], meta["total_pages"]) == (want, False, -(-want // 5))
    ran = await executions(api, admin)
    assert ran.get("posts/tally_count") == 4, ran
    assert "posts/count" not in ran and "explain/posts/count" not in ran, ran


async def test_a_filter_the_tallies_do_not_hold_is_counted_as_before(make_api, settings, db_conn):
    api = await make_api(settings.replace(cache_enabled=False, profiling_enabled=True))
    admin, user = await api.user(admin=True), await api.user()
    await db_conn.execute(ARRANGE, user.id)
    await db_conn.execute(POSTS, user.id, 120)
    project = await db_conn.fetchval("SELECT project_id FROM posts WHERE owner_id = $1 LIMIT 1", user.id)
    meta = (await api.get(f"/api/posts?project_id={project}&min_word_count=5&page_size=5", user))["metadata"]
    want = await db_conn.fetchval("SELECT count(*) FROM posts WHERE project_id = $1", project)
    assert (meta["total"], meta["total_is_estimate"]) == (want, False)
    ran = await executions(api, admin)
    assert ran.get("posts/count") == 1 and "posts/tally_count" not in ran, ran
