"""posts.content and posts.template_name under the built-in C.UTF-8 collation (migration 0112).

Applied to a database that already holds posts, the migration must leave every ILIKE
answer as it was (letters with one lowercase form, accents and all), keep the trigram
indexes usable, and analyze posts again: the trigram frequencies of migration 0080, on
which a search's index condition depends (service/store/trigrams.py), must not be lost.
Through the API, search stays case-insensitive beyond ASCII.
"""
from __future__ import annotations

import shutil

import asyncpg
import orjson
import pytest
from dbutil import scratch_database

from service.db.migrations import MIGRATIONS_DIR, apply_migrations

COLLATION = "0112_posts_text_builtin_collation.sql"
CONTENTS = ["Über den Wolken, Post {n}.", "Café au lait, post {n}.", "ÉTÉ INDIEN post {n}.",
            "Straße und Weg post {n}.", "Ελληνικά ΚΕΊΜΕΝΑ post {n}.", "plain ascii growth post {n}."]
PATTERNS = ["%über%", "%ÜBER%", "%café%", "%CAFÉ%", "%été%", "%straße%", "%STRASSE%", "%ελληνικά%",
            "%κείμενα%", "%post 7%", "%GROWTH%", "%zzyzx%"]
TEMPLATES = ["Été", "über", "How-To"]


async def _matches(conn: asyncpg.Connection) -> dict[str, int]:
    found = {}
    for pattern in PATTERNS:
        found[pattern] = await conn.fetchval("SELECT count(*) FROM posts WHERE content ILIKE $1", pattern)
    for name in TEMPLATES:
        found["template " + name] = await conn.fetchval(
            "SELECT count(*) FROM posts WHERE template_name ILIKE $1", f"%{name.upper()}%")
    return found


async def _collation(conn: asyncpg.Connection, column: str) -> str:
    return await conn.fetchval("""
        SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
        WHERE a.attrelid = 'posts'::regclass AND a.attname = $1""", column)


@pytest.fixture
async def database_before_0112(pg_server, tmp_path):
    """A database migrated up to the file before 0112, holding 3,000 posts."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < COLLATION:
            shutil.copy(path, directory / path.name)
    async with scratch_database(pg_server[0], "cj_collation", migrate=False) as url:
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn, directory=directory)
            await conn.execute("""
                WITH u AS (INSERT INTO users (email, password_hash) VALUES ('c@example.com', 'x') RETURNING id),
                     c AS (INSERT INTO clients (owner_id, name) SELECT id, 'Acme' FROM u RETURNING id, owner_id),
                     p AS (INSERT INTO projects (owner_id, client_id, name) SELECT owner_id, id, 'P' FROM c
                           RETURNING id, owner_id)
                INSERT INTO posts (owner_id, project_id, content, template_name, word_count)
                SELECT p.owner_id, p.id, replace(($1::text[])[1 + g % 6], '{n}', g::text),
                       ($2::text[])[1 + g % 3], 5
                FROM p, generate_series(1, 3000) AS g""", CONTENTS, TEMPLATES)
            await conn.execute("ANALYZE posts")
        finally:
            await conn.close()
        yield url


async def test_the_migration_keeps_every_match_the_indexes_and_the_statistics(database_before_0112):
    conn = await asyncpg.connect(database_before_0112)
    try:
        if not await conn.fetchval("SELECT EXISTS (SELECT FROM pg_collation WHERE collname = 'pg_c_utf8')"):
            pytest.skip("pg_c_utf8 needs PostgreSQL 17+: the migration is a no-op here")
        before = await _matches(conn)
        assert before["%über%"] == before["%ÜBER%"] == 500 and before["%café%"] == before["%CAFÉ%"] == 500
        assert before["%STRASSE%"] == 0     # one lowercase form per letter: ß is not "ss"
        assert await _collation(conn, "content") != "pg_c_utf8"

        await apply_migrations(conn)

        assert await _collation(conn, "content") == await _collation(conn, "template_name") == "pg_c_utf8"
        assert await _matches(conn) == before
        # posts analyzed again: column statistics and the trigram frequencies are back.
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'posts' AND attname = 'content'") == 1
        assert await conn.fetchval("SELECT count(*) FROM posts_content_trigram_frequencies()") > 0
        await conn.execute("SET enable_seqscan = off")
        for column, index in (("content", "posts_content_trgm_idx"), ("template_name", "posts_template_name_trgm_idx")):
            plan = orjson.loads(await conn.fetchval(
                f"EXPLAIN (FORMAT JSON) SELECT id FROM posts WHERE {column} ILIKE '%über%'"))
            assert index in orjson.dumps(plan).decode(), plan
    finally:
        await conn.close()


async def test_search_is_case_insensitive_beyond_ascii(api):
    user = await api.user()
    project = await api.project_of(user)
    texts = ["Über den Wolken", "Café au lait", "ÉTÉ INDIEN", "Ελληνικά ΚΕΊΜΕΝΑ", "plain"]
    await api.post("/api/posts", user, json={"items": [{"project_id": project["id"], "content": t} for t in texts]})
    for term, expected in [("über", "Über den Wolken"), ("CAFÉ", "Café au lait"), ("été", "ÉTÉ INDIEN"),
                           ("κείμενα", "Ελληνικά ΚΕΊΜΕΝΑ")]:
        body = await api.get("/api/posts", user, params={"search": term, "project_id": project["id"]})
        assert [p["content"] for p in body["items"]] == [expected], term
        assert body["metadata"]["total"] == 1
