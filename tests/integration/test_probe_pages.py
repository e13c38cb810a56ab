"""Defects found by probing lists, pagination, cursors, search and totals (one test each).

Each test reproduces what a user saw before its fix, through the HTTP API against the
real PostgreSQL.
"""
from __future__ import annotations

from urllib.parse import urlencode

import asyncpg
from dbutil import ONE_PROJECTS_POSTS as SEED
from dbutil import scratch_database


async def test_an_estimated_total_is_never_below_the_rows_a_numbered_page_proves(make_api, settings, pg_server):
    """A total that is an estimate below the real count (statistics taken before the owner's
    posts arrived, count capped at COUNT_EXACT_LIMIT) answered page 10 of a 200-row list with
    `total` 31 and `total_pages` 2: "page 10 of 2". A page proves the rows before it, its own
    and (has_next) one more; the total may be an estimate, but never below that."""
    async with scratch_database(pg_server[0], "cj_probe_estimate") as url:
        api = await make_api(settings.replace(database_url=url, count_exact_limit=30, cache_enabled=False))
        api.database_url = url
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ALTER TABLE posts SET (autovacuum_enabled = false)")
            other, user = await api.user(), await api.user()
            await conn.execute(SEED, other.id, 500)
            await conn.execute("ANALYZE posts")         # statistics without `user`'s posts
            await conn.execute(SEED, user.id, 200)
            size, page = 20, 1
            for filters in ({}, {"has_cta": "true"}):
                rows = 200 if not filters else 100
                for page in range(1, rows // size + 1):
                    body = await api.get(f"/api/posts?{urlencode({**filters, 'page': page, 'page_size': size})}", user)
                    meta = body["metadata"]
                    assert len(body["items"]) == size
                    proven = (page - 1) * size + len(body["items"]) + meta["has_next"]
                    assert meta["total"] >= proven and meta["total_pages"] >= page, (filters, page, meta)
                    if meta["total"] != rows:
                        assert meta["total_is_estimate"] is True, meta
        finally:
            await conn.close()
            await api.client.close()


async def test_a_search_term_without_trigrams_is_refused_like_a_short_one(api):
    """`search=---` (or `C++`, `%%%`, three emoji) passed the 3-character minimum, but pg_trgm
    finds no trigram in it, so its index returned every row to be tested: 90-130 ms at
    100,000 posts against 2-9 ms for any term with a trigram, growing with the table. The
    minimum exists to refuse exactly that scan; such a term is now 400 naming the field.
    Terms with a usable trigram stay served, short words included (`a b`: "  b")."""
    user = await api.user()
    project = await api.project_of(user, name="C++ and more")
    await api.posts_of(user, project["id"], 2, template_name="x-y plan")
    for path, field in (("/api/posts", "search"), ("/api/posts", "template_name"), ("/api/clients", "search"),
                        ("/api/projects", "search")):
        for term in ("---", "C++", "%%%", "___", "\\\\\\", "😀😀😀", "a.+"):
            resp, body = await api.call("GET", f"{path}?{urlencode({field: term})}", user)
            assert resp.status == 400, (path, field, term, resp.status, body)
            assert body["error"]["field"] == field and "index" in body["error"]["message"], body
    for term in ("a b", "ab.", "% o", "x-y", "東京都", "number 1"):
        await api.get(f"/api/posts?{urlencode({'search': term})}", user)
    assert [p["name"] for p in (await api.get("/api/projects?search=C%2B%2B a", user))["items"]] == ["C++ and more"]
    assert len((await api.get("/api/posts?template_name=x-y", user))["items"]) == 2


async def test_a_later_page_of_a_search_shows_the_exact_total_page_one_showed(make_api, settings, pg_server):
    """`/api/posts?search=post 77` at 100,000 posts: page 1 said total 1,113 (exact, read by
    the trigram index), page 2 said 201 (`total_is_estimate`, 3 pages): the planner expected
    at most SEARCH_COUNT_EXACT_LIMIT matches, so later pages counted up to the cap and
    reported the cap. Here the statistics predate the matching posts, as they did there."""
    async with scratch_database(pg_server[0], "cj_probe_search_total") as url:
        api = await make_api(settings.replace(database_url=url, cache_enabled=False))
        api.database_url = url
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ALTER TABLE posts SET (autovacuum_enabled = false)")
            user = await api.user()
            await conn.execute(SEED, user.id, 2000)
            await conn.execute("ANALYZE posts")         # no post holds the word yet
            await conn.execute(SEED.replace("'post ' || g", "'a needle in post ' || g"), user.id, 500)
            seen = []
            for page in (1, 2, 3, 4, 5, 6):
                body = await api.get(f"/api/posts?search=needle&page_size=100&page={page}", user)
                meta = body["metadata"]
                assert (meta["total"], meta["total_is_estimate"], meta["total_pages"]) == (500, False, 5), (page, meta)
                seen += [post["id"] for post in body["items"]]
            assert len(seen) == len(set(seen)) == 500
        finally:
            await conn.close()
            await api.client.close()
