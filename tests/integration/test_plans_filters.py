"""The non-text posts filters read their indexes, asserted on the plans of the real PostgreSQL.

Issue 16: a user's list always carries owner_id, so every filter must be served as well
for a user as for the admin. A database of its own (like test_plans.py) holds 120,000
posts of 20 owners over 100 projects and runs, ANALYZEd and vacuumed, and each query of
the posts list (sql/posts/count.sql, sql/posts/list_offset_desc.sql) is EXPLAINed with
its filters on a connection configured like the pool's (custom plans). What is asserted:
- migration 0090: the owner's capped count within a project or a run, with or without a
  filter, is an index-only scan of the parent's index (its INCLUDE columns), no heap;
- page 1 of a project with a filter that matches nothing tests the filter on the
  parent index's entries (an index-only scan), not on 1,200 table rows;
- migration 0091: a rare word-count or readability range is counted, and page 1's keys
  are found, by an index-only scan of its own index; the page's rows are then read by
  primary key (the (created_at, id) list is not walked);
- migration 0092: the planner's estimate for needs_review comes from statistics on
  cardinality(flags), near the truth rather than a default third of the rows;
- migration 0111: status with needs_review reads an index of that review state in order.
"""
from __future__ import annotations

import asyncpg
import orjson
import pytest
from dbutil import scratch_database

from service.db.pool import connect
from service.db.registry import query
from service.pagination.count_plans import _rows_estimate
from service.store import posts

POSTS = 120_000
OWNERS = 20
PARENTS = 100               # projects, one run each; project j belongs to owner j % OWNERS

BUILD = [
    """INSERT INTO users (email, password_hash)
       SELECT 'filter-owner-' || g || '@example.com', 'not-a-hash' FROM generate_series(1, {owners}) AS g""",
    """INSERT INTO clients (owner_id, name)
       SELECT id, 'client of ' || email FROM users""",
    """INSERT INTO projects (owner_id, client_id, name, created_at)
       SELECT c.owner_id, c.id, 'project ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
       FROM generate_series(0, {parents} - 1) AS g
       JOIN (SELECT id, owner_id, row_number() OVER (ORDER BY owner_id) - 1 AS n FROM clients) AS c
         ON c.n = g % {owners}""",
    """INSERT INTO runs (owner_id, project_id, status, created_at)
       SELECT owner_id, id, 'succeeded', created_at FROM projects""",
    # Post g: project g % 100 (1,200 posts each), platform by project (a project's posts all
    # share one platform, so project + another platform matches nothing), 10 % flagged,
    # 5 % with flags (needs_review), word_count 10..209, readability 0.0..99.9 in steps of
    # 0.1 (99.5 and up: 0.5 %), both spread by a hash of g so that every owner has some of
    # each range. Four posts share each created_at.
    """INSERT INTO posts (owner_id, project_id, run_id, content, word_count, readability_score, has_cta,
                          status, flags, target_platform, created_at)
       SELECT p.owner_id, p.id, r.id, 'post ' || g, 10 + abs(hashint4(g)) % 200, (abs(hashint4(-g)) % 1000) / 10.0, g % 3 = 0,
              CASE WHEN g % 10 = 0 THEN 'flagged' ELSE 'approved' END,
              CASE WHEN g % 20 = 0 THEN ARRAY['too_long'] ELSE ARRAY[]::text[] END,
              (ARRAY['linkedin', 'twitter', 'facebook', 'blog'])[1 + (g % {parents}) % 4],
              timestamptz '2024-01-01 00:00:00+00' + (g / 4) * interval '1 second'
       FROM generate_series(0, {posts} - 1) AS g
       JOIN (SELECT id, owner_id, row_number() OVER (ORDER BY created_at, id) - 1 AS n FROM projects) AS p
         ON p.n = g % {parents}
       JOIN runs AS r ON r.project_id = p.id""",
]


@pytest.fixture(scope="module")
async def filters_database(pg_server):
    async with scratch_database(pg_server[0], "cj_plans_filters") as url:
        conn = await asyncpg.connect(url)
        try:
            for statement in BUILD:
                await conn.execute(statement.format(owners=OWNERS, parents=PARENTS, posts=POSTS))
            # Fresh statistics (0092's too), and a current visibility map for index-only scans.
            await conn.execute("VACUUM (ANALYZE) users, clients, projects, runs, posts")
        finally:
            await conn.close()
        yield url


@pytest.fixture(scope="module")
async def sample(filters_database):
    conn = await asyncpg.connect(filters_database)
    try:
        row = await conn.fetchrow("""
            SELECT p.owner_id, p.project_id, p.run_id, p.target_platform
            FROM posts AS p ORDER BY p.created_at DESC, p.id DESC LIMIT 1""")
        return dict(row)
    finally:
        await conn.close()


@pytest.fixture
async def conn(filters_database, settings):
    """Configured like the pool's: plan_cache_mode=force_custom_plan, so NULL filters fold away."""
    connection = await connect(filters_database, settings)
    try:
        yield connection
    finally:
        await connection.close()


async def plan_of(conn, name: str, filters: dict, **extra) -> dict:
    q = query(name)
    raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {q.text}", *q.bind({**filters, **extra}))
    return orjson.loads(raw)[0]["Plan"]


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def describe(plan: dict) -> str:
    lines = []

    def walk(node, depth):
        detail = ", ".join(f"{k}: {node[k]}" for k in ("Index Name", "Relation Name", "Index Cond", "Filter")
                           if k in node)
        lines.append("  " * depth + node["Node Type"] + (f" ({detail})" if detail else ""))
        for child in node.get("Plans", []):
            walk(child, depth + 1)
    walk(plan, 0)
    return "\n".join(lines)


def posts_scans(plan: dict) -> list[dict]:
    return [n for n in nodes(plan) if n.get("Relation Name") == "posts"]


def assert_only_index_only(plan: dict, index: str) -> None:
    """The posts table is read only by an index-only scan of `index`: no heap visit."""
    shown = describe(plan)
    scans = posts_scans(plan)
    assert [(n["Node Type"], n.get("Index Name")) for n in scans] == [("Index Only Scan", index)], shown


NARROWING = {
    "no filter": {},
    "status": {"status": "flagged"},
    "platform": {"platform": "linkedin"},
    "has_cta": {"has_cta": True},
    "needs_review": {"needs_review": True},
    "max_word_count": {"max_word_count": 50},
    "min_readability": {"min_readability": 60.0},
    "status + has_cta": {"status": "approved", "has_cta": False},
}


@pytest.mark.parametrize("parent", ["project_id", "run_id"])
@pytest.mark.parametrize("case", list(NARROWING))
async def test_owner_count_within_a_parent_reads_only_the_parent_index(conn, sample, parent, case):
    """Migration 0090: owner_id and the filter columns ride along in the parent's index."""
    filters = posts.list_filters(sample["owner_id"], **{parent: sample[parent]}, **NARROWING[case])
    plan = await plan_of(conn, "posts/count", filters, cap=10001)
    index = "posts_project_created_at_id_idx" if parent == "project_id" else "posts_run_created_at_id_idx"
    assert_only_index_only(plan, index)


@pytest.mark.parametrize("owner", [True, False], ids=["owner", "admin"])
async def test_page_one_of_a_project_tests_a_filter_on_index_entries(conn, sample, owner):
    """No post of this project is for this other platform: page 1 looks at every post of the
    project, on the index's entries (the page's keys), and reads no table row."""
    other = "blog" if sample["target_platform"] != "blog" else "linkedin"
    filters = posts.list_filters(sample["owner_id"] if owner else None, project_id=sample["project_id"],
                                 platform=other)
    assert await conn.fetchval(
        "SELECT count(*) FROM posts WHERE project_id = $1 AND target_platform = $2", sample["project_id"], other) == 0
    plan = await plan_of(conn, "posts/list_offset_desc", filters, limit=21, offset=0)
    shown = describe(plan)
    scans = posts_scans(plan)
    assert scans[0]["Node Type"] == "Index Only Scan", shown
    assert scans[0]["Index Name"] == "posts_project_created_at_id_idx", shown
    # The only other read of posts: the page's rows by primary key.
    assert [(n["Node Type"], n.get("Index Name")) for n in scans[1:]] == [("Index Scan", "posts_pkey")], shown
    rows = await conn.fetch(query("posts/list_offset_desc").text,
                            *query("posts/list_offset_desc").bind({**filters, "limit": 21, "offset": 0}))
    assert rows == []


RARE_RANGES = [
    ({"min_readability": 99.5}, "posts_readability_score_idx"),
    ({"max_readability": 0.4}, "posts_readability_score_idx"),
    ({"max_word_count": 10}, "posts_word_count_idx"),
    ({"min_word_count": 209}, "posts_word_count_idx"),
]


@pytest.mark.parametrize("owner", [True, False], ids=["owner", "admin"])
@pytest.mark.parametrize(("narrowing", "index"), RARE_RANGES, ids=[str(r[0]) for r in RARE_RANGES])
async def test_a_rare_range_is_counted_and_paged_from_its_own_index(conn, sample, owner, narrowing, index):
    """Migration 0091: the count is an index-only range; page 1 sorts its keys from that
    index alone and reads only the page's rows, by primary key."""
    filters = posts.list_filters(sample["owner_id"] if owner else None, **narrowing)
    assert_only_index_only(await plan_of(conn, "posts/count", filters, cap=10001), index)

    plan = await plan_of(conn, "posts/list_offset_desc", filters, limit=21, offset=0)
    shown = describe(plan)
    scans = posts_scans(plan)
    assert (scans[0]["Node Type"], scans[0]["Index Name"]) == ("Index Only Scan", index), shown
    assert [(n["Node Type"], n.get("Index Name")) for n in scans[1:]] == [("Index Scan", "posts_pkey")], shown

    # And the page is the list's first rows, in order.
    q = query("posts/list_offset_desc")
    got = [r["id"] for r in await conn.fetch(q.text, *q.bind({**filters, "limit": 21, "offset": 0}))]
    where, args = [], []
    for name, value in narrowing.items():
        column = "word_count" if "word_count" in name else "readability_score"
        args.append(value)
        where.append(f"{column} {'>=' if name.startswith('min') else '<='} ${len(args)}")
    if owner:
        args.append(sample["owner_id"])
        where.append(f"owner_id = ${len(args)}")
    want = [r["id"] for r in await conn.fetch(
        f"SELECT id FROM posts WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT 21", *args)]
    assert got == want and want


@pytest.mark.parametrize("needs_review", [True, False])
async def test_needs_review_is_estimated_from_statistics(conn, needs_review):
    """Migration 0092: 5 % of the posts have flags; without statistics on cardinality(flags)
    the planner would guess a third for `cardinality(flags) > 0` (and two thirds for its
    negation), and the count rule (Paginator.count) would decide on that guess."""
    filters = posts.list_filters(None, needs_review=needs_review)
    estimate = _rows_estimate(await plan_of(conn, "posts/count", filters, cap=POSTS + 1))
    actual = await conn.fetchval("SELECT count(*) FROM posts WHERE (cardinality(flags) > 0) = $1", needs_review)
    assert actual == (POSTS // 20 if needs_review else POSTS - POSTS // 20)
    assert actual / 1.5 <= estimate <= actual * 1.5, (estimate, actual)


REVIEW_INDEXES = {
    (False, True): "posts_reviewed_status_created_at_id_idx",
    (False, False): "posts_unreviewed_status_created_at_id_idx",
    (True, True): "posts_reviewed_owner_status_created_at_id_idx",
    (True, False): "posts_unreviewed_owner_status_created_at_id_idx",
}


@pytest.mark.parametrize("owner", [True, False], ids=["owner", "admin"])
@pytest.mark.parametrize("status", ["approved", "flagged"])
@pytest.mark.parametrize("needs_review", [True, False], ids=["needs_review", "no_review"])
async def test_status_with_needs_review_reads_its_review_states_index(conn, sample, owner, status, needs_review):
    """Migration 0111: here every post with flags is flagged, so approved + needs_review
    matches nothing; page 1 of each combination is an ordered range of the index holding
    only that review state (no filter on rows, no sort), and its rows are the list's."""
    filters = posts.list_filters(sample["owner_id"] if owner else None, status=status, needs_review=needs_review)
    plan = await plan_of(conn, "posts/list_offset_desc", filters, limit=21, offset=0)
    shown = describe(plan)
    scans = posts_scans(plan)
    assert scans[0].get("Index Name") == REVIEW_INDEXES[(owner, needs_review)], shown
    assert "Filter" not in scans[0] and not any(n["Node Type"] == "Sort" for n in nodes(plan)), shown

    q = query("posts/list_offset_desc")
    got = [r["id"] for r in await conn.fetch(q.text, *q.bind({**filters, "limit": 21, "offset": 0}))]
    want = [r["id"] for r in await conn.fetch(
        "SELECT id FROM posts WHERE status = $1 AND (cardinality(flags) > 0) = $2 AND ($3::uuid IS NULL OR owner_id = $3) "
        "ORDER BY created_at DESC, id DESC LIMIT 21", status, needs_review, sample["owner_id"] if owner else None)]
    assert got == want
    if not owner:       # (the sampled owner's projects hold no flagged posts)
        assert (want == []) == (status == "approved" and needs_review)
