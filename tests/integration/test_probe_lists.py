"""Defects found by probing every list: pagination, totals, cursors, filters and their
description (one test each).

Each test reproduces what a user saw before its fix, through the HTTP API against the
real PostgreSQL.
"""
from __future__ import annotations

from urllib.parse import urlencode

import asyncpg
from dbutil import ONE_PROJECTS_POSTS as SEED
from dbutil import scratch_database


async def test_a_numbered_page_that_ends_the_list_is_its_own_exact_total(make_api, settings, pg_server):
    """With an estimated total above the real count (statistics taken when the owner had
    2,000 posts, 1,900 deleted since), page 5 of 20 showed the last 20 posts with
    `has_next` false, yet answered `total` 2,000 and `total_pages` 100 flagged as an
    estimate: "page 5 of 100" with nothing after it, and a client looping to total_pages
    asked for 95 empty pages. (`search=Post 29` at 30,000 posts: page 12 of 100 held the
    last 11 matches, total 1,212 and 13 pages.) A numbered page that ends the list proves
    the whole list, the rows before it and its own, as page 1 does when it ends the list:
    that is the exact total."""
    async with scratch_database(pg_server[0], "cj_probe_lists_end") as url:
        api = await make_api(settings.replace(database_url=url, count_exact_limit=30, search_count_exact_limit=30,
                                              cache_enabled=False))
        api.database_url = url
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("ALTER TABLE posts SET (autovacuum_enabled = false)")
            user = await api.user()
            await conn.execute(SEED, user.id, 2000)
            await conn.execute("ANALYZE posts")         # statistics: the owner has 2,000 posts
            await conn.execute("DELETE FROM posts WHERE owner_id = $1 AND content <> ALL("
                               "SELECT 'post ' || g FROM generate_series(1, 100) AS g)", user.id)
            for filters in ({}, {"search": "post"}):
                first = (await api.get(f"/api/posts?{urlencode({**filters, 'page_size': 20})}", user))["metadata"]
                assert first["total_is_estimate"] is True and first["total"] > 100, (filters, first)
                body = await api.get(f"/api/posts?{urlencode({**filters, 'page': 5, 'page_size': 20})}", user)
                meta = body["metadata"]
                assert len(body["items"]) == 20 and meta["has_next"] is False, (filters, meta)
                assert (meta["total"], meta["total_pages"], meta["total_is_estimate"]) == (100, 5, False), (filters, meta)
                # A page with a next one still only bounds the estimate from below.
                meta = (await api.get(f"/api/posts?{urlencode({**filters, 'page': 4, 'page_size': 20})}",
                                      user))["metadata"]
                assert meta["has_next"] is True and meta["total"] >= 81, (filters, meta)
        finally:
            await conn.close()
            await api.client.close()


async def test_the_described_page_metadata_names_every_key_a_list_answers(api):
    """Every list answer's metadata carries `order` (the order its rows and cursors keep)
    and `total_is_estimate`, but the served OpenAPI description's PageMetadata had no
    `order` at all and called `total_is_estimate` optional: a client generated from it
    dropped the order a cursor walk keeps. Each key the answers carry is now described,
    required, with its values."""
    user = await api.user()
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 3)
    schema = (await api.get("/api/openapi.json"))["components"]["schemas"]["PageMetadata"]
    for path in ("/api/clients", "/api/projects", "/api/runs", "/api/posts", "/api/jobs"):
        for query in ("page_size=2", "order=asc&page_size=2"):
            meta = (await api.get(f"{path}?{query}", user))["metadata"]
            assert set(meta) == set(schema["properties"]) == set(schema["required"]), (path, meta, schema)
            assert meta["order"] in schema["properties"]["order"]["enum"]
    assert schema["properties"]["order"]["enum"] == ["desc", "asc"]
    assert schema["properties"]["total_is_estimate"]["type"] == "boolean"


async def test_a_term_whose_only_digits_pg_trgm_cannot_index_is_refused(api, db_conn):
    """`search=²²²` (or `½½½`, `①②③`, `x²²`) was served by testing every row: the check that
    a term holds a trigram pg_trgm can look up used Python's str.isalnum, which counts
    superscripts, fractions and circled numbers (Unicode "other number") as word characters,
    but the database does not (libc, ICU and the builtin provider alike), so pg_trgm found no
    trigram and the index returned every row (27-45 ms at 30,000 posts against 1.8 ms for a
    rare word, growing with the table): the scan the check exists to refuse. Such a term is
    now 400 like `---`; letters and decimal digits of any script stay word characters."""
    user = await api.user()
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 2)
    for term in ("²²²", "½½½", "①②③"):
        # The database sees no word character in them at all.
        assert await db_conn.fetchval("SELECT show_trgm($1) = '{}'::text[]", term), term
    for path, field in (("/api/posts", "search"), ("/api/posts", "template_name"), ("/api/clients", "search"),
                        ("/api/projects", "search")):
        for term in ("²²²", "½½½", "①②③", "x²²"):
            resp, body = await api.call("GET", f"{path}?{urlencode({field: term})}", user)
            assert resp.status == 400, (path, field, term, resp.status, body)
            assert body["error"]["field"] == field and "index" in body["error"]["message"], body
    for term in ("x²yz", "٢٠٢٤", "東京都", "number 1"):
        await api.get(f"/api/posts?{urlencode({'search': term})}", user)
