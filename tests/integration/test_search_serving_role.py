"""A search served as the serving role narrows its trigram index condition (issue 16).

The trigram frequencies that service/store/trigrams.py narrows a search's index condition
with come from ANALYZE's statistics on show_trgm(content) (migration 0080), which
pg_stats_ext_exprs shows only to roles owning posts. The service serves as a separate,
unprivileged role (README "Database roles"), so it read none and never narrowed; the
SECURITY DEFINER function of migration 0095 reads them for it. Here a database is made
as `python run.py` makes it (owner and serving role), filled and analyzed by the owner,
and the app's own pool (the serving role's) must read the frequencies, choose the
narrowed part for "post 777" and have PostgreSQL use it as the index condition; the
served search's answer is still exactly the ILIKE's.

The roles log in without a password over the embedded server's socket, so these tests
need it (with TEST_DATABASE_URL they are skipped)."""
from __future__ import annotations

import secrets

import asyncpg
import pytest
from conftest import Api
from dbutil import drop_database
from test_plans import _scans_of, describe

from service import keys
from service.app import create_app
from service.db import roles
from service.db.embedded import OWNER_ROLE, SERVING_ROLE, ensure_service_database
from service.db.registry import Query
from service.store import posts, trigrams
from service.store.patterns import contains

POSTS = 100_000
CURRENT_USER = Query("tests/current_user", "SELECT current_user")


@pytest.fixture
async def served(pg_server, settings):
    admin_url, server = pg_server
    if server is None:
        pytest.skip("the roles log in without a password over the embedded server's socket")
    name = f"cj_search_roles_{secrets.token_hex(4)}"
    serving_url, owner_url = await ensure_service_database(server, name)
    served = settings.replace(database_url=serving_url, database_owner_url=owner_url)
    prepared = await roles.prepare(served)
    assert prepared.owner_role == OWNER_ROLE and prepared.serving.role == SERVING_ROLE
    try:
        yield served
    finally:
        await drop_database(admin_url, name)


async def _fetch(url: str, statement: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(statement, *args)
    finally:
        await conn.close()


async def test_the_serving_role_reads_the_frequencies_and_narrows_a_served_search(served, aiohttp_client):
    app = create_app(served)
    api = Api(await aiohttp_client(app), served.owner_url)
    user = await api.user()
    project = await api.project_of(user)
    # As the owner (who migrates and seeds): rows whose every content holds "Post N."
    # ("pos", "ost", "st " in all of them), then ANALYZE.
    await _fetch(served.owner_url, """
        INSERT INTO posts (owner_id, project_id, content, word_count)
        SELECT $1::uuid, $2::uuid, 'Growth notes about topic ' || (g % 97) || '. Post ' || g || '.', 7
        FROM generate_series(1, $3::int) AS g""", user.id, project["id"], POSTS)
    await _fetch(served.owner_url, "ANALYZE posts")

    # Why the function: the view itself shows the serving role nothing, the owner the rows.
    view = ("SELECT count(*) AS n FROM pg_stats_ext_exprs WHERE statistics_name = 'posts_content_trigrams'")
    assert (await _fetch(served.database_url, view))[0]["n"] == 0
    assert (await _fetch(served.owner_url, view))[0]["n"] == 1

    trigrams._FREQUENCIES = trigrams.TrigramFrequencies()      # this database's, not another test's
    db = app[keys.DB]
    async with db.session() as session:
        assert await session.fetchval(CURRENT_USER) == SERVING_ROLE
        frequencies = {r["trigram"]: r["frequency"] for r in await session.fetch(trigrams.FREQUENCIES)}
        assert frequencies.get("pos", 0.0) > 0.9 and frequencies.get("ost", 0.0) > 0.9, frequencies
        filters = posts.list_filters(None, search="post 777")
        pattern = await trigrams.search_index_pattern(session, filters)
        assert pattern != filters["search"] and "777" in pattern and "pos" not in pattern, pattern
        plan = await session.explain(posts.LIST.text_matches["desc"], **filters, search_index=pattern, limit=21,
                                    offset=0)
        scans = _scans_of(plan, "Bitmap Index Scan", "posts_content_trgm_idx")
        assert scans and pattern in scans[0]["Index Cond"], describe(plan)
        assert filters["search"] not in scans[0]["Index Cond"], describe(plan)

    # The served search: exactly the ILIKE's rows and total.
    expected = (await _fetch(served.owner_url,
                             "SELECT count(*) AS n FROM posts WHERE content ILIKE $1", contains("post 777")))[0]["n"]
    assert expected == 111          # 777, 7770-7779, 77700-77799
    body = await api.get("/api/posts?search=post%20777&page_size=5", user)
    assert body["metadata"]["total"] == expected and body["metadata"]["total_is_estimate"] is False
    assert all("post 777" in item["content"].lower() for item in body["items"])
