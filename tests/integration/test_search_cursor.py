"""Cursor pages of a search for a rare term come from the trigram index (text_keyset_*.sql).

Walking every cursor page forward and then back, in both orders, must give exactly the
rows ILIKE finds, in (created_at, id) order, with has_next/has_prev exact, as the walk of
the list (list_keyset_*.sql) gave before; and the term must indeed be one the service
reads from the trigram index (trigrams.rare_search_index_pattern)."""
from __future__ import annotations

import asyncpg
import pytest

from service.store import posts, trigrams
from service.store.patterns import contains

ROWS = 3000


@pytest.fixture
async def rare_term_posts(api, database_url):
    user = await api.user()
    project = await api.project_of(user)
    conn = await asyncpg.connect(database_url)
    try:
        # "Post 123." in 6 rows (g % 500 = 123), several rows per created_at (ties by id).
        await conn.execute("""
            INSERT INTO posts (owner_id, project_id, content, word_count, created_at)
            SELECT $1::uuid, $2::uuid, 'Growth notes. Post ' || (g % 500) || '. Item ' || g || '.', 5,
                   timestamptz '2024-01-01 00:00:00+00' + (g / 3) * interval '1 second'
            FROM generate_series(1, $3::int) AS g""", user.id, project["id"], ROWS)
        await conn.execute("ANALYZE posts")
        trigrams._FREQUENCIES = trigrams.TrigramFrequencies()     # this database's statistics
        expected = {}
        for order in ("asc", "desc"):
            rows = await conn.fetch(f"""
                SELECT id::text FROM posts WHERE owner_id = $1::uuid AND content ILIKE $2
                ORDER BY created_at {order}, id {order}""", user.id, contains("post 123"))
            expected[order] = [r["id"] for r in rows]
        frequencies = {r["trigram"]: r["frequency"] for r in await conn.fetch(trigrams.FREQUENCIES.text)}
    finally:
        await conn.close()
    return user, expected, frequencies


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_rare_term_cursor_pages_walk_exactly_the_matches(api, rare_term_posts, order):
    user, expected, frequencies = rare_term_posts
    assert len(expected[order]) == 6
    # The term is rare by the statistics, so cursor pages take the trigram index path.
    assert trigrams.is_rare("post 123", frequencies), {t: frequencies.get(t) for t in trigrams.like_trigrams("post 123")}
    assert not trigrams.is_rare("growth", frequencies)

    path = f"/api/posts?search=post%20123&order={order}&page_size=2"
    body = await api.get(path, user)
    pages = [[item["id"] for item in body["items"]]]
    assert body["metadata"]["has_prev"] is False
    while body["metadata"]["has_next"]:
        body = await api.get(f"{path}&cursor={body['metadata']['next_cursor']}", user)
        assert body["metadata"]["strategy"] == "cursor" and body["metadata"]["has_prev"] is True
        pages.append([item["id"] for item in body["items"]])
    assert [i for page in pages for i in page] == expected[order]
    assert len(pages) == 3

    # Back again with prev cursors: the same pages in reverse.
    back = []
    while body["metadata"]["has_prev"]:
        body = await api.get(f"{path}&cursor={body['metadata']['prev_cursor']}", user)
        assert body["metadata"]["has_next"] is True
        back.append([item["id"] for item in body["items"]])
    assert back == pages[-2::-1]


async def test_rare_term_cursor_page_past_the_last_match_is_empty_with_has_prev(api, rare_term_posts):
    """A cursor whose key is the last match: no rows, and has_prev says matches lie behind."""
    user, expected, _ = rare_term_posts
    path = "/api/posts?search=post%20123&order=asc&page_size=6"
    body = await api.get(path, user)
    assert [i["id"] for i in body["items"]] == expected["asc"] and body["metadata"]["has_next"] is False
    # Page 1 of size 5 ends one before the last match; its next page holds the last one only.
    body = await api.get("/api/posts?search=post%20123&order=asc&page_size=5", user)
    body = await api.get(f"/api/posts?search=post%20123&order=asc&page_size=5&cursor={body['metadata']['next_cursor']}",
                         user)
    assert [i["id"] for i in body["items"]] == expected["asc"][5:]
    assert body["metadata"]["has_next"] is False and body["metadata"]["has_prev"] is True
    assert posts.LIST.text_keyset is not None
