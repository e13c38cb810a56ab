"""Numbered pages of a posts text search at any depth (Paginator._text_numbered_page).

A deep page of a search used to be found by boundary_*.sql, which tests ILIKE on every
row before the page (or sorts every match of a common word to find a page past its end):
1M posts, "roadmap signal" page 11 1.4 s, "growth" page 1,000,000 3.0 s. Now a term read
from the trigram index on page 1 takes its page by OFFSET over the same matches
(text_matches_*.sql), a common word's deep page is found by a walk with a budget
(text_boundary_*.sql), and a walk deeper than SEARCH_MAX_PAGE_OFFSET rows is refused.

Each page must still be exactly the rows of an unfiltered walk filtered in Python, with
exact has_next/has_prev and an exact total or a flagged estimate consistent with the page."""
from __future__ import annotations

import asyncpg
import pytest
from dbutil import scratch_database

from service.store import trigrams

ROWS = 12000
SIZE = 50


@pytest.fixture
async def deep_search(pg_server, settings, make_api):
    """A database of its own (its statistics are this data's): 12,000 posts, five per
    created_at; every one holds "growth" (common, dense), "post 123" is in 24 of them
    (rare), "zebra" in the 400 oldest only (estimated common, but too sparse for the walk
    of a DESC page: read from the trigram index)."""
    async with scratch_database(pg_server[0], "cj_deep_search") as url:
        api = await make_api(settings.replace(database_url=url, cache_enabled=False, offset_threshold=10,
                                              search_max_page_offset=100000))
        api.database_url = url
        user = await api.user()
        project = await api.project_of(user)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("""
                INSERT INTO posts (owner_id, project_id, content, word_count, created_at)
                SELECT $1::uuid, $2::uuid,
                       'Growth notes. Post ' || (g % 500) || '.' || CASE WHEN g <= 400 THEN ' Zebra crossing.' ELSE '' END,
                       5, timestamptz '2024-01-01 00:00:00+00' + (g / 5) * interval '1 second'
                FROM generate_series(1, $3::int) AS g""", user.id, project["id"], ROWS)
            await conn.execute("ANALYZE posts")
            walk = {order: [(r["id"], r["content"].lower()) for r in await conn.fetch(
                f"SELECT id::text, content FROM posts WHERE owner_id = $1::uuid ORDER BY created_at {order}, id {order}",
                user.id)] for order in ("asc", "desc")}
        finally:
            await conn.close()
        trigrams._FREQUENCIES = trigrams.TrigramFrequencies()     # this database's statistics
        try:
            yield api, user, walk
        finally:
            trigrams._FREQUENCIES = trigrams.TrigramFrequencies()
            await api.client.close()


def _expected(walk, order, term):
    """The matches of an unfiltered walk of the list, filtered here."""
    return [row_id for row_id, content in walk[order] if term in content]


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("term", ["growth", "post 123", "zebra"])
async def test_deep_numbered_pages_of_a_search_are_exactly_its_rows(deep_search, order, term):
    api, user, walk = deep_search
    matches = _expected(walk, order, term)
    assert len(matches) == {"growth": ROWS, "post 123": 24, "zebra": 400}[term]
    last = -(-len(matches) // SIZE)
    strategies = {}
    for page in sorted({2, 3, 5, 8, last - 1, last, last + 1, last + 5, last + 40} - {0, 1}):
        body = await api.get(f"/api/posts?search={term.replace(' ', '%20')}&order={order}&page_size={SIZE}"
                             f"&page={page}", user)
        meta = body["metadata"]
        offset = (page - 1) * SIZE
        shown = [item["id"] for item in body["items"]]
        assert shown == matches[offset:offset + SIZE], (term, order, page)
        assert meta["has_next"] is (offset + SIZE < len(matches)), (term, order, page, meta)
        assert meta["has_prev"] is True, (term, order, page, meta)
        assert (meta["next_cursor"] is not None) is meta["has_next"]
        if meta["total_is_estimate"]:
            assert shown and meta["has_next"], (term, order, page, meta)    # an end is its own exact total
            assert meta["total"] >= offset + len(shown) + 1, meta
        else:
            assert meta["total"] == len(matches), (term, order, page, meta)
        strategies[page] = meta["strategy"]
        # The page's next cursor continues exactly after it.
        if meta["has_next"]:
            after = await api.get(f"/api/posts?search={term.replace(' ', '%20')}&page_size={SIZE}"
                                  f"&cursor={meta['next_cursor']}", user)
            assert [i["id"] for i in after["items"]] == matches[offset + SIZE:offset + 2 * SIZE]
    if term == "post 123":
        # Expected rare: read from the matches the trigram index finds (text_matches), never by a walk.
        assert set(strategies.values()) == {"offset"}, (term, order, strategies)
    if term == "zebra" and order == "desc":
        # Expected common, but none within the walk's budget for page 2: from the matches too.
        assert strategies[3] == "offset", strategies
    if term == "growth":
        # Found by the budgeted walk (text_boundary), then keyset.
        assert strategies[last] == "cursor", strategies


async def test_page_past_the_end_of_a_rare_search_is_empty_with_exact_metadata(deep_search):
    api, user, walk = deep_search
    body = await api.get(f"/api/posts?search=post%20123&page_size={SIZE}&page=1000", user)
    meta = body["metadata"]
    assert body["items"] == []
    assert meta["total"] == 24 and meta["total_is_estimate"] is False and meta["total_pages"] == 1
    assert meta["has_next"] is False and meta["has_prev"] is True
    assert meta["next_cursor"] is None and meta["prev_cursor"] is not None
    # A search matching nothing: empty, total 0, nothing before the page either.
    body = await api.get(f"/api/posts?search=nomatchhere&page_size={SIZE}&page=7", user)
    assert body["items"] == [] and body["metadata"]["total"] == 0
    assert body["metadata"]["has_prev"] is False and body["metadata"]["total_is_estimate"] is False


async def test_numbered_pages_of_a_search_are_capped_in_depth(deep_search, settings, make_api):
    """page x page_size past SEARCH_MAX_PAGE_OFFSET is 400 invalid_parameter naming page,
    before any database work; cursors and lists without a text filter go deeper."""
    _, user, walk = deep_search
    api = await make_api(settings.replace(database_url=deep_search[0].database_url, cache_enabled=False,
                                          offset_threshold=10, search_max_page_offset=2000))
    matches = _expected(walk, "desc", "growth")
    ok = await api.get("/api/posts?search=growth&page_size=20&page=101", user)      # starts after 2,000 rows
    assert [i["id"] for i in ok["items"]] == matches[2000:2020]
    for page, size in ((102, 20), (22, 100), (10**15, 20)):
        body = await api.get(f"/api/posts?search=growth&page_size={size}&page={page}", user, expect=400)
        assert body["error"]["code"] == "invalid_parameter" and body["error"]["field"] == "page", body
        assert "2000" in body["error"]["message"] and "cursor" in body["error"]["message"]
    # Lists found by the probe alone (no trigram read) are capped whatever the term.
    body = await api.get("/api/clients?search=story&page=102", user, expect=400)
    assert body["error"]["field"] == "page"
    # A rare term is read from its trigram matches at page 1's cost: served at any depth,
    # past its end too, as the contract asks of every page number.
    rare = _expected(walk, "desc", "post 123")
    body = await api.get("/api/posts?search=post%20123&page_size=20&page=101", user)
    assert body["items"] == [] and body["metadata"]["total"] == len(rare)
    assert body["metadata"]["total_is_estimate"] is False and body["metadata"]["has_prev"] is True
    # Without a text filter the depth is free (an index-only probe).
    assert (await api.get("/api/posts?page_size=20&page=102", user))["metadata"]["page"] == 102
    # A cursor goes on past the cap.
    cursor = ok["metadata"]["next_cursor"]
    for _ in range(3):
        body = await api.get(f"/api/posts?search=growth&page_size=20&cursor={cursor}", user)
        cursor = body["metadata"]["next_cursor"]
    assert [i["id"] for i in body["items"]] == matches[2060:2080]
    await api.client.close()
