"""Hybrid pagination (docs/API.md section 5) through the HTTP API, against orders computed by SQL.

Every test owns a fresh user whose rows are seeded in SQL with generate_series,
several rows per created_at value, so page boundaries fall inside ties. The
expected order of a list is always asked of PostgreSQL directly
(ORDER BY created_at, id), never written down by hand.
"""
from __future__ import annotations

import math
from urllib.parse import urlencode

import asyncpg
import pytest
from dbutil import scratch_database

from service.pagination.cursors import CursorCodec
from service.store import trigrams
from service.store.patterns import contains

PAGE = 100           # page_size of the big walks
POSTS = 2400         # per seeded user: 24 pages of 100

SEED = """
WITH clients_made AS (
    INSERT INTO clients (owner_id, name, created_at)
    SELECT $1, 'client ' || g || CASE WHEN g % 4 = 0 THEN ' special' ELSE '' END,
           timestamptz '2021-01-01 00:00:00+00' + (g / 3) * interval '1 millisecond'
    FROM generate_series(1, $2) AS g
    RETURNING id
), parents AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM clients_made
)
INSERT INTO projects (owner_id, client_id, name, status, created_at)
SELECT $1, parents.ids[1 + g % 2], 'project ' || g,
       (ARRAY['draft', 'processing', 'qa_review', 'ready', 'delivered'])[1 + g % 5],
       timestamptz '2021-01-01 00:00:00+00' + (g / 3) * interval '1 millisecond'
FROM parents, generate_series(1, $3) AS g
"""

SEED_RUNS = """
INSERT INTO runs (owner_id, project_id, created_at)
SELECT $1, ($2::uuid[])[1 + g % 2], timestamptz '2021-01-01 00:00:00+00' + (g / 3) * interval '1 millisecond'
FROM generate_series(1, $3) AS g
"""

# Run i belongs to project i (i = 1, 2); every third post has no run. Five posts
# share each created_at value.
SEED_POSTS = """
INSERT INTO posts (owner_id, project_id, run_id, content, template_name, word_count,
                   readability_score, has_cta, status, flags, target_platform, created_at)
SELECT $1, ($2::uuid[])[1 + g % 2],
       CASE WHEN g % 3 = 0 THEN NULL ELSE ($3::uuid[])[1 + g % 2] END,
       'seeded post ' || g || CASE WHEN g % 11 = 0 THEN ' with a needle' ELSE '' END,
       'template ' || (g % 4), g % 200, (g % 100)::float8, g % 2 = 0,
       CASE WHEN g % 10 = 0 THEN 'flagged' ELSE 'approved' END,
       CASE WHEN g % 10 = 0 THEN ARRAY['too long'] ELSE ARRAY[]::text[] END,
       (ARRAY['linkedin', 'twitter', 'facebook', 'blog'])[1 + g % 4],
       timestamptz '2021-01-01 00:00:00+00' + (g / 5) * interval '1 millisecond'
FROM generate_series(1, $4) AS g
"""


async def seed(db_conn, user, *, clients=2, projects=2, runs=0, posts=0) -> dict:
    """Rows for `user`: clients, projects over the first two clients, runs and posts over the first two projects."""
    await db_conn.execute(SEED, user.id, clients, projects)
    project_ids = [r["id"] for r in await db_conn.fetch(
        "SELECT id FROM projects WHERE owner_id = $1 ORDER BY created_at, id LIMIT 2", user.id)]
    run_ids = []
    if runs or posts:
        await db_conn.execute(SEED_RUNS, user.id, project_ids, max(runs, 2))
        # The first run of each project, in project order.
        for project_id in project_ids:
            run_ids.append(await db_conn.fetchval(
                "SELECT id FROM runs WHERE project_id = $1 ORDER BY created_at, id LIMIT 1", project_id))
    if posts:
        await db_conn.execute(SEED_POSTS, user.id, project_ids, run_ids, posts)
    return {"projects": [str(p) for p in project_ids], "runs": [str(r) for r in run_ids]}


async def expected(db_conn, table: str, user, order: str = "desc", where: str = "true", *args) -> list[str]:
    """The list as PostgreSQL orders it; `where` may use $2, $3, ... for args."""
    rows = await db_conn.fetch(
        f"SELECT id::text FROM {table} WHERE owner_id = $1 AND ({where}) "
        f"ORDER BY created_at {order}, id {order}", user.id, *args)
    return [r["id"] for r in rows]


async def get_page(api, user, path: str, expect: int = 200, **params):
    return await api.get(f"{path}?{urlencode(params)}", user, expect=expect)


def ids(page: dict) -> list[str]:
    return [item["id"] for item in page["items"]]


def check_cursors_match_flags(meta: dict) -> None:
    assert (meta["next_cursor"] is not None) == meta["has_next"], meta
    assert (meta["prev_cursor"] is not None) == meta["has_prev"], meta


async def walk_forward(api, user, path: str, sizes=(PAGE,), **params) -> tuple[list[str], int]:
    """Page 1 by number, then next_cursor to the end; page sizes cycle through `sizes`."""
    page = await get_page(api, user, path, page_size=sizes[0], **params)
    seen, steps = ids(page), 1
    assert page["metadata"]["has_prev"] is False
    while page["metadata"]["has_next"]:
        check_cursors_match_flags(page["metadata"])
        page = await get_page(api, user, path, cursor=page["metadata"]["next_cursor"],
                              page_size=sizes[steps % len(sizes)], **params)
        assert page["metadata"]["strategy"] == "cursor" and page["metadata"]["has_prev"] is True
        assert page["items"], "a page with has_next before it is never empty"
        seen += ids(page)
        steps += 1
    check_cursors_match_flags(page["metadata"])
    return seen, steps


async def walk_backward(api, user, path: str, total: int, size: int = PAGE, **params) -> list[str]:
    """The last page by number, then prev_cursor back to the first."""
    last = max(1, math.ceil(total / size))
    page = await get_page(api, user, path, page=last, page_size=size, **params)
    assert page["metadata"]["has_next"] is False
    seen = ids(page)
    while page["metadata"]["has_prev"]:
        check_cursors_match_flags(page["metadata"])
        page = await get_page(api, user, path, cursor=page["metadata"]["prev_cursor"], page_size=size, **params)
        assert page["metadata"]["has_next"] is True and page["items"]
        seen = ids(page) + seen
    check_cursors_match_flags(page["metadata"])
    return seen


# -- page numbers -----------------------------------------------------------------

@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_every_page_number_returns_exactly_its_rows(make_api, settings, db_conn, order):
    api = await make_api(settings.replace(offset_threshold=300))
    user = await api.user()
    await seed(db_conn, user, posts=POSTS)
    want = await expected(db_conn, "posts", user, order)
    pages = POSTS // PAGE
    for number in range(1, pages + 2):          # one past the end too
        page = await get_page(api, user, "/api/posts", page=number, page_size=PAGE, order=order)
        meta = page["metadata"]
        assert ids(page) == want[(number - 1) * PAGE:number * PAGE], f"page {number}"
        assert meta["strategy"] == ("offset" if (number - 1) * PAGE < 300 else "cursor"), number
        assert (meta["total"], meta["total_pages"], meta["total_is_estimate"]) == (POSTS, pages, False)
        assert (meta["page"], meta["page_size"], meta["order"]) == (number, PAGE, order)
        assert meta["has_next"] is (number < pages) and meta["has_prev"] is (number > 1), number
        check_cursors_match_flags(meta)


async def test_small_pages_with_a_filter_split_ties_exactly(make_api, settings, db_conn):
    """Page size 7 over flagged posts: boundaries fall inside runs of equal created_at."""
    api = await make_api(settings.replace(offset_threshold=50))
    user = await api.user()
    await seed(db_conn, user, posts=POSTS)
    want = await expected(db_conn, "posts", user, "desc", "status = 'flagged'")
    count = len(want)
    for number in range(1, math.ceil(count / 7) + 1):
        page = await get_page(api, user, "/api/posts", page=number, page_size=7, status="flagged")
        assert ids(page) == want[(number - 1) * 7:number * 7], number
        assert page["metadata"]["total"] == count


async def test_a_page_past_the_end_is_empty_in_both_ranges(make_api, settings, db_conn):
    api = await make_api(settings.replace(offset_threshold=350))
    user = await api.user()
    await seed(db_conn, user, posts=250)
    want = await expected(db_conn, "posts", user)
    for number, strategy in ((4, "offset"), (5, "cursor"), (40, "cursor"), (2**53 - 1, "cursor")):
        page = await get_page(api, user, "/api/posts", page=number, page_size=100 if number < 40 else 20)
        meta = page["metadata"]
        assert page["items"] == [] and meta["strategy"] == strategy, number
        assert meta["has_next"] is False and meta["has_prev"] is True and meta["total"] == 250
        # Its prev_cursor leads back to the last rows of the list.
        back = await get_page(api, user, "/api/posts", cursor=meta["prev_cursor"], page_size=30)
        assert ids(back) == want[-30:] and back["metadata"]["has_next"] is False


async def test_first_page_in_cursor_range_when_the_threshold_is_zero(make_api, settings, db_conn):
    api = await make_api(settings.replace(offset_threshold=0))
    user = await api.user()
    await seed(db_conn, user, posts=50)
    want = await expected(db_conn, "posts", user)
    for number in (1, 2, 3):
        page = await get_page(api, user, "/api/posts", page=number, page_size=20)
        assert page["metadata"]["strategy"] == "cursor" and ids(page) == want[(number - 1) * 20:number * 20]


async def test_an_empty_list_has_zero_totals_and_no_cursors(api):
    user = await api.user()
    for params in ({}, {"page": 3}, {"page": 500}, {"order": "asc"}):
        page = await get_page(api, user, "/api/posts", **params)
        meta = page["metadata"]
        assert page["items"] == []
        assert (meta["total"], meta["total_pages"], meta["total_is_estimate"]) == (0, 0, False)
        assert (meta["has_next"], meta["has_prev"], meta["next_cursor"], meta["prev_cursor"]) == (
            False, False, None, None), params


# -- cursors ----------------------------------------------------------------------

@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_cursor_walks_visit_every_row_once_both_ways(api, db_conn, order):
    user = await api.user()
    await seed(db_conn, user, posts=POSTS)
    want = await expected(db_conn, "posts", user, order)
    forward, steps = await walk_forward(api, user, "/api/posts", order=order)
    assert forward == want and steps == POSTS // PAGE
    assert await walk_backward(api, user, "/api/posts", POSTS, order=order) == want


async def test_page_size_may_change_between_cursor_requests(api, db_conn):
    user = await api.user()
    await seed(db_conn, user, posts=700)
    want = await expected(db_conn, "posts", user)
    forward, _ = await walk_forward(api, user, "/api/posts", sizes=(100, 37, 1, 64, 9))
    assert forward == want


async def test_a_cursor_keeps_its_order_and_refuses_another(api, db_conn):
    user = await api.user()
    await seed(db_conn, user, posts=120)
    want = await expected(db_conn, "posts", user, "asc")
    first = await get_page(api, user, "/api/posts", order="asc", page_size=50)
    cursor = first["metadata"]["next_cursor"]
    implied = await get_page(api, user, "/api/posts", cursor=cursor, page_size=50)
    explicit = await get_page(api, user, "/api/posts", cursor=cursor, page_size=50, order="asc")
    assert ids(implied) == ids(explicit) == want[50:100] and implied["metadata"]["order"] == "asc"
    refused = await get_page(api, user, "/api/posts", expect=400, cursor=cursor, order="desc")
    assert refused["error"]["code"] == "invalid_cursor" and "order" in refused["error"]["message"]


POST_FILTERS = [
    # (query parameters, SQL condition over posts with $2.. from the seeded ids)
    ({"project_id": 0}, "project_id = $2::uuid"),
    ({"run_id": 0}, "run_id = $2::uuid"),
    ({"status": "flagged"}, "status = 'flagged'"),
    ({"platform": "blog"}, "target_platform = 'blog'"),
    ({"project_id": 1, "status": "approved", "platform": "twitter"},
     "project_id = $2::uuid AND status = 'approved' AND target_platform = 'twitter'"),
    ({"has_cta": "true", "min_word_count": "50", "max_readability": "60"},
     "has_cta AND word_count >= 50 AND readability_score <= 60"),
    ({"needs_review": "false", "template_name": "LATE 2"}, "flags = '{}' AND template_name ILIKE '%late 2%'"),
    ({"search": "NEEDLE"}, "content ILIKE '%needle%'"),
]


@pytest.mark.parametrize("params, condition", POST_FILTERS, ids=lambda v: str(v) if isinstance(v, dict) else None)
async def test_post_filters_combine_with_numbers_and_cursors(make_api, settings, db_conn, params, condition):
    api = await make_api(settings.replace(offset_threshold=60))
    user = await api.user()
    made = await seed(db_conn, user, posts=1200)
    query, args = {}, []
    for name, value in params.items():
        if name in ("project_id", "run_id"):
            query[name] = made["projects" if name == "project_id" else "runs"][value]
            args.append(query[name])
        else:
            query[name] = value
    for order in ("desc", "asc"):
        want = await expected(db_conn, "posts", user, order, condition, *args)
        assert len(want) > 40, "the filter keeps enough rows for several pages"
        forward, _ = await walk_forward(api, user, "/api/posts", sizes=(40,), order=order, **query)
        assert forward == want
        assert await walk_backward(api, user, "/api/posts", len(want), size=40, order=order, **query) == want
        deep = await get_page(api, user, "/api/posts", page=3, page_size=40, order=order, **query)
        # A text filter expected rare reads its numbered pages by OFFSET over the matches the
        # trigram index finds (Paginator._text_numbered_page); any other deep page by keyset.
        text = "search" in query or "template_name" in query
        assert deep["metadata"]["strategy"] in (("offset", "cursor") if text else ("cursor",)), deep["metadata"]
        assert ids(deep) == want[80:120]


LISTS = [
    ("/api/clients", "clients", {}, "true"),
    ("/api/clients", "clients", {"search": "SPECIAL"}, "name ILIKE '%special%'"),
    ("/api/projects", "projects", {}, "true"),
    ("/api/projects", "projects", {"status": "ready"}, "status = 'ready'"),
    ("/api/projects", "projects", {"client_id": "first"}, "client_id = $2::uuid"),
    ("/api/runs", "runs", {}, "true"),
    ("/api/runs", "runs", {"project_id": "first"}, "project_id = $2::uuid"),
]


@pytest.mark.parametrize("path, table, params, condition", LISTS)
async def test_every_list_paginates_by_number_and_cursor(api, db_conn, path, table, params, condition):
    user = await api.user()
    await seed(db_conn, user, clients=330, projects=330, runs=330)
    query, args = dict(params), []
    if "first" in params.values():
        parent_table = "clients" if "client_id" in params else "projects"
        parent = str(await db_conn.fetchval(
            f"SELECT {'client_id' if parent_table == 'clients' else 'project_id'} FROM {table} "
            "WHERE owner_id = $1 ORDER BY created_at, id LIMIT 1", user.id))
        query = {name: parent for name in params}
        args = [parent]
    for order in ("desc", "asc"):
        want = await expected(db_conn, table, user, order, condition, *args)
        assert len(want) > 60
        for number in range(1, math.ceil(len(want) / 30) + 2):
            page = await get_page(api, user, path, page=number, page_size=30, order=order, **query)
            assert ids(page) == want[(number - 1) * 30:number * 30], (order, number)
            assert page["metadata"]["total"] == len(want)
        forward, _ = await walk_forward(api, user, path, sizes=(30,), order=order, **query)
        assert forward == want
        assert await walk_backward(api, user, path, len(want), size=30, order=order, **query) == want


# -- concurrent writes ------------------------------------------------------------

async def _new_posts(api, user, project_id: str, count: int) -> list[str]:
    return [p["id"] for p in await api.posts_of(user, project_id, count)]


async def test_inserts_at_the_head_during_a_walk_neither_skip_nor_repeat(api, db_conn):
    user = await api.user()
    made = await seed(db_conn, user, posts=600)
    original = await expected(db_conn, "posts", user, "desc")
    # Newest first: new rows land before the walk's position and are not met.
    page = await get_page(api, user, "/api/posts", page_size=50)
    seen = ids(page)
    while page["metadata"]["has_next"]:
        await _new_posts(api, user, made["projects"][0], 3)
        page = await get_page(api, user, "/api/posts", cursor=page["metadata"]["next_cursor"], page_size=50)
        seen += ids(page)
    assert seen == original

    # Oldest first: new rows land after the walk's position and are met once, at the end.
    before = await expected(db_conn, "posts", user, "asc")
    page = await get_page(api, user, "/api/posts", page_size=50, order="asc")
    seen, added = ids(page), []
    while page["metadata"]["has_next"]:
        added += await _new_posts(api, user, made["projects"][1], 3)
        page = await get_page(api, user, "/api/posts", cursor=page["metadata"]["next_cursor"], page_size=50)
        seen += ids(page)
    assert seen == before + added


async def test_inserts_during_a_backward_walk_neither_skip_nor_repeat(api, db_conn):
    user = await api.user()
    made = await seed(db_conn, user, posts=500)
    before = await expected(db_conn, "posts", user, "desc")
    page = await get_page(api, user, "/api/posts", page=10, page_size=50)
    seen, added = ids(page), []
    while page["metadata"]["has_prev"]:
        added = await _new_posts(api, user, made["projects"][0], 2) + added
        page = await get_page(api, user, "/api/posts", cursor=page["metadata"]["prev_cursor"], page_size=50)
        seen = ids(page) + seen
    # Walking back toward the head, the new rows are met last (at the head), each once.
    newest_first = await expected(db_conn, "posts", user, "desc")
    assert seen == newest_first and len(seen) == len(set(seen)) == len(before) + len(added)


async def test_deleting_the_boundary_row_does_not_break_the_walk(api, db_conn):
    user = await api.user()
    await seed(db_conn, user, posts=400)
    want = await expected(db_conn, "posts", user)
    first = await get_page(api, user, "/api/posts", page_size=100)
    await api.delete(f"/api/posts/{want[99]}", user)                  # the next_cursor's key
    second = await get_page(api, user, "/api/posts", cursor=first["metadata"]["next_cursor"], page_size=100)
    assert ids(second) == want[100:200]

    third = await get_page(api, user, "/api/posts", page=3, page_size=100)
    await api.delete(f"/api/posts/{want[200]}", user)                 # the prev_cursor's key
    back = await get_page(api, user, "/api/posts", cursor=third["metadata"]["prev_cursor"], page_size=100)
    assert ids(back) == want[100:200] and back["metadata"]["has_prev"] is True
    # The walk goes on from a vanished key in both directions.
    on = await get_page(api, user, "/api/posts", cursor=back["metadata"]["next_cursor"], page_size=100)
    assert ids(on) == want[201:301]


# -- totals -----------------------------------------------------------------------

async def test_totals_are_exact_up_to_the_limit_and_estimated_beyond(make_api, settings, db_conn):
    api = await make_api(settings.replace(count_exact_limit=300))
    user = await api.user()
    await seed(db_conn, user, posts=POSTS)
    await db_conn.execute("ANALYZE posts")
    page = await get_page(api, user, "/api/posts", page_size=PAGE)
    meta = page["metadata"]
    assert meta["total_is_estimate"] is True and meta["total"] > 300
    # The planner's estimate for this owner, from fresh statistics: near, not exact.
    assert POSTS / 2 <= meta["total"] <= POSTS * 2, meta["total"]
    assert meta["total_pages"] == math.ceil(meta["total"] / PAGE)
    # has_next stays exact whatever the estimate says: the last page by cursor ends the walk.
    forward, _ = await walk_forward(api, user, "/api/posts")
    assert forward == await expected(db_conn, "posts", user)

    flagged = await get_page(api, user, "/api/posts", status="flagged", page_size=PAGE)
    count = len(await expected(db_conn, "posts", user, "desc", "status = 'flagged'"))
    assert count <= 300
    assert (flagged["metadata"]["total"], flagged["metadata"]["total_is_estimate"]) == (count, False)


async def test_search_totals_are_exact_up_to_the_search_limit_then_estimated(make_api, settings, pg_server):
    """A text search counts at most SEARCH_COUNT_EXACT_LIMIT rows (each is an ILIKE test);
    the same list without a search still counts up to COUNT_EXACT_LIMIT.

    In a database of its own: the planner's estimate for this user's needle is
    (needle share of every post) x (this user's share), so other tests' posts in the
    shared database would push it under the cap (data-dependent, not the rule)."""
    async with scratch_database(pg_server[0], "cj_search_totals") as url:
        api = await make_api(settings.replace(database_url=url, search_count_exact_limit=50,
                                              count_exact_limit=10000, cache_enabled=False))
        api.database_url = url
        db_conn = await asyncpg.connect(url)
        try:
            await _search_totals(api, db_conn)
        finally:
            await db_conn.close()
            await api.client.close()


async def _search_totals(api, db_conn) -> None:
    user = await api.user()
    await seed(db_conn, user, posts=POSTS)
    await db_conn.execute("ANALYZE posts")
    plain = await get_page(api, user, "/api/posts", page_size=PAGE)
    assert (plain["metadata"]["total"], plain["metadata"]["total_is_estimate"]) == (POSTS, False)
    needles = len(await expected(db_conn, "posts", user, "desc", "content LIKE '%needle%'"))
    assert needles > 50
    searched = await get_page(api, user, "/api/posts", search="needle", page_size=20)
    meta = searched["metadata"]
    assert meta["total_is_estimate"] is True and meta["total"] > 50, meta
    assert meta["has_next"] is True and len(searched["items"]) == 20
    # Under the search cap the total is exact.
    few = len(await expected(db_conn, "posts", user, "desc", "content LIKE '%needle%' AND status = 'flagged'"))
    assert 20 < few <= 50
    narrow = await get_page(api, user, "/api/posts", search="needle", status="flagged", page_size=20)
    assert (narrow["metadata"]["total"], narrow["metadata"]["total_is_estimate"]) == (few, False)


@pytest.mark.parametrize("search_cap", [200, 0], ids=["planner-decides", "walk-first"])
async def test_search_page_one_is_exactly_the_ilike_whichever_way_it_is_read(make_api, settings, db_conn, search_cap):
    """Page 1 of a search holds the first rows that match ILIKE '%term%', by every path
    (Paginator._text_first_page): a word in every post ("post"), one that fills the page
    within the walk, one too rare for it that matches only old posts ("post 14"), and an
    absent one. search_cap 0 makes
    every search start with the walk, so the rare words take the walk's fallback."""
    api = await make_api(settings.replace(cache_enabled=False, search_count_exact_limit=search_cap))
    user = await api.user()
    await seed(db_conn, user, posts=1200)
    # Every post ends "Post N." with N its age rank: "post" is in every row, "post 14" only
    # in N = 14 and 140..149, among the oldest: beyond the walk (1,050 rows) newest first.
    await db_conn.execute("""
        UPDATE posts AS p SET content = p.content || ' Post ' || o.n || '.'
        FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS n FROM posts WHERE owner_id = $1) AS o
        WHERE p.id = o.id""", user.id)
    await db_conn.execute("ANALYZE posts")
    trigrams._FREQUENCIES = trigrams.TrigramFrequencies()     # this database's statistics, not another test's
    for term in ("post", "POST 1", "post 14", "post 5%", "zzyzx"):
        for order in ("desc", "asc"):
            want = await expected(db_conn, "posts", user, order, "content ILIKE $2", contains(term))
            page = await get_page(api, user, "/api/posts", search=term, page_size=20, order=order)
            meta = page["metadata"]
            assert ids(page) == want[:20], (term, order)
            assert meta["has_next"] is (len(want) > 20), (term, order)
            if meta["total_is_estimate"]:
                assert meta["total"] >= 21, (term, order, meta)
            else:
                assert meta["total"] == len(want), (term, order, meta)
            if term == "post 14":
                assert (meta["total"], meta["total_is_estimate"]) == (len(want), False), (order, meta)


async def test_a_first_page_that_ends_the_list_is_its_own_total_with_no_count(make_api, settings, db_conn):
    api = await make_api(settings.replace(cache_enabled=False, profiling_enabled=True))
    admin, user = await api.user(admin=True), await api.user()
    await seed(db_conn, user, posts=7)

    async def counts() -> int:
        body = await api.get("/api/health/profiling/queries?limit=1000", admin)
        return sum(item["execution_count"] for item in body["items"] if item["name"] == "posts/count")

    whole = await get_page(api, user, "/api/posts", page_size=20)
    assert len(whole["items"]) == 7 and whole["metadata"]["has_next"] is False
    assert (whole["metadata"]["total"], whole["metadata"]["total_is_estimate"]) == (7, False)
    assert await counts() == 0
    # A page 1 with more behind it counts.
    part = await get_page(api, user, "/api/posts", page_size=5)
    assert (part["metadata"]["total"], part["metadata"]["total_pages"], part["metadata"]["has_next"]) == (7, 2, True)
    assert await counts() == 1


async def test_a_page_past_the_end_of_an_estimated_list_is_empty(make_api, settings, db_conn):
    api = await make_api(settings.replace(count_exact_limit=50))
    user = await api.user()
    await seed(db_conn, user, posts=300)
    want = await expected(db_conn, "posts", user)
    for number in (4, 10, 2**53 - 1):
        page = await get_page(api, user, "/api/posts", page=number, page_size=100)
        assert page["items"] == [] and page["metadata"]["has_next"] is False
        assert page["metadata"]["has_prev"] is True and page["metadata"]["total_is_estimate"] is True
    last = await get_page(api, user, "/api/posts", page=3, page_size=100)
    assert ids(last) == want[200:] and last["metadata"]["has_next"] is False


# -- bad input --------------------------------------------------------------------

@pytest.mark.parametrize("query, code, field", [
    ("page=0", "invalid_parameter", "page"),
    ("page=-1", "invalid_parameter", "page"),
    ("page=9007199254740992", "invalid_parameter", "page"),   # past the JSON-exact integers
    ("page=100000000000000000000000000000000", "invalid_parameter", "page"),
    ("page=abc", "invalid_parameter", "page"),
    ("page=1.5", "invalid_parameter", "page"),
    ("page=", "invalid_parameter", "page"),
    ("page=%201", "invalid_parameter", "page"),
    ("page=1_0", "invalid_parameter", "page"),
    ("page=%D9%A3", "invalid_parameter", "page"),          # an Arabic-Indic digit three
    ("page=1&page=2", "invalid_parameter", "page"),
    ("page_size=10&page_size=20", "invalid_parameter", "page_size"),
    ("order=asc&order=asc", "invalid_parameter", "order"),
    ("page_size=0", "invalid_parameter", "page_size"),
    ("page_size=101", "invalid_parameter", "page_size"),
    ("page_size=-5", "invalid_parameter", "page_size"),
    ("page_size=abc", "invalid_parameter", "page_size"),
    ("page_size=1e2", "invalid_parameter", "page_size"),
    ("order=up", "invalid_parameter", "order"),
    ("order=DESC", "invalid_parameter", "order"),
    ("page=1&cursor=abc.def", "invalid_parameter", "cursor"),
    ("cursor=", "invalid_cursor", "cursor"),
    ("cursor=abc", "invalid_cursor", "cursor"),
    ("cursor=abc.def", "invalid_cursor", "cursor"),
    ("cursor=%C3%A9.abc", "invalid_cursor", "cursor"),
])
async def test_bad_paging_parameters_answer_400_naming_the_field(api, query, code, field):
    user = await api.user()
    body = await api.get(f"/api/posts?{query}", user, expect=400)
    assert (body["error"]["code"], body["error"]["field"], body["error"]["status"]) == (code, field, 400)
    assert body["error"]["message"]


async def test_a_cursor_is_refused_with_anything_but_its_own_list_filters_and_caller(make_api, settings, db_conn):
    api = await make_api(settings)
    user, other, admin = await api.user(), await api.user(), await api.user(admin=True)
    made = await seed(db_conn, user, posts=200)
    page = await get_page(api, user, "/api/posts", status="approved", page_size=10)
    cursor = page["metadata"]["next_cursor"]
    assert (await get_page(api, user, "/api/posts", cursor=cursor, status="approved"))["items"]

    async def refused(path, who=user, client=api, **params):
        body = await client.get(f"{path}?{urlencode({'cursor': cursor, **params})}", who, expect=400)
        assert body["error"]["code"] == "invalid_cursor" and body["error"]["field"] == "cursor"
        return body["error"]["message"]

    assert "filters" in await refused("/api/posts")                                   # filter dropped
    assert "filters" in await refused("/api/posts", status="flagged")                 # filter changed
    assert "filters" in await refused("/api/posts", status="approved", platform="blog")   # filter added
    assert "filters" in await refused("/api/posts", status="approved", project_id=made["projects"][0])
    assert "order" in await refused("/api/posts", status="approved", order="asc")
    assert "another list" in await refused("/api/projects", status="ready")
    assert "another list" in await refused("/api/runs")
    assert "another user" in await refused("/api/posts", who=other, status="approved")
    assert "another user" in await refused("/api/posts", who=admin, status="approved")
    body, signature = cursor.split(".")
    tampered = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + signature
    assert "signature" in await refused("/api/posts", cursor=tampered, status="approved")
    # Another deployment (another SECRET_KEY) does not accept it either.
    elsewhere = await make_api(settings.replace(secret_key="another-secret-key"))
    assert "another key" in await refused("/api/posts", client=elsewhere, status="approved")
    # And a cursor forged under the right key for another format version is refused by name.
    old = CursorCodec(settings.secret_key)
    import base64

    import orjson
    forged_body = base64.urlsafe_b64encode(orjson.dumps({"v": 0})).rstrip(b"=").decode()
    assert "format" in await refused("/api/posts", cursor=f"{forged_body}.{old._sign(forged_body)}",
                                     status="approved")
