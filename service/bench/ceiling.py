"""The two ceilings, each a separate process: `python -m service.bench.ceiling static|sql --port P`.

static: a bare aiohttp handler answering the bytes of the service's cached page 1
        (from --body FILE): what the cached path could reach with no work at all.
sql:    a bare aiohttp + asyncpg handler running the SQL the service runs for an
        admin's page 1 of /api/posts (the planner's estimate, and a capped count
        only where the service would count, Paginator.count; LIMIT/OFFSET list with
        NULL filters) on a connection set up like
        the service's, serialized with the service's orjson dumps: what the
        uncached path could reach with no auth, cache, profiling or middleware.
Both answer /api/health/live, so the bench waits for them like for the service, and
both run on the service's event loop (EVENT_LOOP), so a ratio compares like with like.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from aiohttp import web


async def live(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"alive"}', content_type="application/json")


def static_app(body: bytes) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/health/live", live)
    app.router.add_get("/api/posts", page)
    return app


def sql_app() -> web.Application:
    import asyncpg
    import orjson

    from service.db.pool import init_connection, server_settings
    from service.jsonutil import dumps
    from service.pagination.count_plans import TTL_S, CountPlan
    from service.pagination.paginator import counting_is_cheap
    from service.settings import load_settings
    from service.store import posts

    settings = load_settings(create_secret=False)
    count, listing = posts.LIST.count, posts.LIST.offset["desc"]
    cap = settings.count_exact_limit
    size = settings.default_page_size
    # The admin's page 1 with no filters, laid out once: the ceiling does no per-request binding work.
    admin = posts.list_filters(None)
    count_args = count.bind({**admin, "cap": cap + 1})
    listing_args = listing.bind({**admin, "limit": size + 1, "offset": 0})
    pool_key = web.AppKey("pool", asyncpg.Pool)
    planned: dict = {"at": float("-inf"), "plan": None}

    async def open_pool(app: web.Application):
        app[pool_key] = await asyncpg.create_pool(
            settings.database_url, min_size=settings.db_pool_size, max_size=settings.pool_max_size,
            server_settings=server_settings(settings, "content-jumpstart-bench-ceiling"), init=init_connection,
            statement_cache_size=settings.db_statement_cache_size)
        yield
        await app[pool_key].close()

    async def page(request: web.Request) -> web.Response:
        async with request.app[pool_key].acquire() as conn:
            # The service's Paginator.count without a text filter: the planner first (its
            # plan reused for TTL_S, as pagination/count_plans.py does), a capped count only
            # for a small, cheap list, else the estimate.
            if time.monotonic() - planned["at"] >= TTL_S:
                planned["plan"] = CountPlan.of(orjson.loads(await conn.fetchval(
                    f"EXPLAIN (FORMAT JSON) {count.text}", *count_args))[0]["Plan"])
                planned["at"] = time.monotonic()
            plan = planned["plan"]
            estimate = plan.rows
            estimated = not counting_is_cheap(plan, settings)
            if estimated:
                total = estimate
            else:
                total = await conn.fetchval(count.text, *count_args)
                estimated = total > cap
                total = max(estimate, total) if estimated else total
            rows = await conn.fetch(listing.text, *listing_args)
        body = dumps({"items": [dict(r) for r in rows[:size]],
                      "metadata": {"total": total, "total_is_estimate": estimated, "page": 1, "page_size": size,
                                   "total_pages": math.ceil(total / size), "has_next": len(rows) > size,
                                   "has_prev": False}})
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.cleanup_ctx.append(open_pool)
    app.router.add_get("/api/health/live", live)
    app.router.add_get("/api/posts", page)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.bench.ceiling")
    parser.add_argument("kind", choices=["static", "sql"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, help="static: the response bytes to serve")
    args = parser.parse_args(argv)
    from service.http.loops import loop_factory
    from service.settings import load_settings
    loop = loop_factory(load_settings(create_secret=False).event_loop)()
    app = static_app(args.body.read_bytes()) if args.kind == "static" else sql_app()
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, shutdown_timeout=2, loop=loop)


if __name__ == "__main__":
    main()
