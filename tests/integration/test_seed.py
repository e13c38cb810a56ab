"""Seeding through COPY, including the bulk path that rebuilds posts' indexes and keys."""
from __future__ import annotations

import pytest
from dbutil import scratch_database

from service.db.database import Database
from service.settings import Settings
from service.store.seed import BULK_LOAD_THRESHOLD, seed

STRUCTURE = """
    SELECT 'index' AS kind, pg_get_indexdef(indexrelid) AS definition
    FROM pg_index WHERE indrelid = 'posts'::regclass
    UNION ALL
    SELECT 'constraint', conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE conrelid = 'posts'::regclass
    ORDER BY 1, 2"""


@pytest.fixture
async def fresh_database(pg_server):
    async with scratch_database(pg_server[0], "cj_seed") as url:
        async with Database.connect(url, Settings(database_url=url)) as db:
            yield db


async def test_bulk_load_keeps_existing_rows_and_rebuilds_every_index_and_key(fresh_database):
    db = fresh_database
    conn = db.pool.conn      # the same connection, for arranging and checking in plain SQL
    owner = await conn.fetchval(
        "INSERT INTO users (email, password_hash, is_admin) VALUES ('seed@example.com', 'x', true) RETURNING id")
    structure_before = [tuple(r) for r in await conn.fetch(STRUCTURE)]
    small = await seed(db, owner_id=owner, clients=2, projects=3, posts=50)        # row by row, indexes kept
    big = await seed(db, owner_id=owner, clients=2, projects=4, posts=BULK_LOAD_THRESHOLD)

    assert (small.posts, big.posts) == (50, BULK_LOAD_THRESHOLD)
    assert await conn.fetchval("SELECT count(*) FROM posts") == 50 + BULK_LOAD_THRESHOLD
    assert [tuple(r) for r in await conn.fetch(STRUCTURE)] == structure_before
    # The rebuilt indexes are valid and the keys hold: every post's project and run exist.
    assert await conn.fetchval("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'posts'::regclass")
    orphans = await conn.fetchval("""
        SELECT count(*) FROM posts
        WHERE NOT EXISTS (SELECT 1 FROM projects WHERE projects.id = posts.project_id)
           OR (run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = posts.run_id))""")
    assert orphans == 0
    # Generated values are consistent: word counts match the text; bursts share created_at.
    mismatched = await conn.fetchval(
        "SELECT count(*) FROM posts WHERE word_count <> array_length(regexp_split_to_array(content, '\\s+'), 1)")
    assert mismatched == 0
    ties = await conn.fetchval("SELECT count(*) FROM (SELECT created_at FROM posts GROUP BY 1 HAVING count(*) > 1) t")
    assert ties > 0


async def test_seed_refuses_posts_without_projects(fresh_database):
    owner = await fresh_database.pool.conn.fetchval(
        "INSERT INTO users (email, password_hash) VALUES ('s@example.com', 'x') RETURNING id")
    with pytest.raises(ValueError):
        await seed(fresh_database, owner_id=owner, clients=1, projects=0, posts=5)
