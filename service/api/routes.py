"""The route table: every endpoint once, with what it needs and what it changes.

The router is built from it (`add_routes`), the cache's after-write invalidation
reads `writes` from it, and the OpenAPI document (issue 11) is to be generated
from it. `auth` says who may call: public, user (a bearer token), admin,
metrics (open unless METRICS_TOKEN is set), or admin_or_metrics (read-only admin
health: an admin's token, or METRICS_TOKEN for scrapers); handlers enforce it with the guards
of service/auth/guards.py, and tests/integration/test_routes.py proves that
every route answers as its row says.
"""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from service.api import auth, clients, docs, health, jobs, posts, projects, runs
from service.api.admin import cache, database, full, metrics, profiling, status_page
from service.api.admin import jobs as admin_jobs
from service.api.openapi import FILE_RESPONSES
from service.cache.invalidation import NEW_ROWS, OWNER_ROWS, PATH_ROW
from service.schemas import admin as admin_schema
from service.schemas import clients as client_schema
from service.schemas import jobs as job_schema
from service.schemas import posts as post_schema
from service.schemas import projects as project_schema
from service.schemas import runs as run_schema
from service.schemas import users as user_schema
from service.schemas.validate import parse_query

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["public", "user", "admin", "metrics", "admin_or_metrics"]
Schema = type   # a TypedDict of service/schemas (validation and the OpenAPI document read it)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    auth: Auth
    summary: str
    body: Schema | None = None         # the JSON body it validates (422 on a mismatch)
    query: Schema | None = None        # its query parameters besides paging (400 on a mismatch)
    paginated: bool = False            # takes page, cursor, page_size, order; answers items + metadata
    response: str = "object"           # what a success answers (a resource name, "list of ...", "no content")
    status: int = 200                  # the success status
    writes: tuple[str, ...] = ()       # tables whose cached answers a success can change (cache/invalidation.py)
    # Which rows of writes[0] a success changes: OWNER_ROWS (any of the caller's), NEW_ROWS
    # (only rows it creates) or PATH_ROW (the one named by {id}); cache/invalidation.py.
    rows: str = OWNER_ROWS

    @property
    def is_write(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


_ALL = ("clients", "projects", "runs", "posts")

ROUTES: tuple[Route, ...] = (
    # Public health
    Route("GET", "/api/health", health.health, "public", "Service name and version"),
    Route("GET", "/api/health/live", health.live, "public", "200 while the process runs"),
    Route("GET", "/api/health/ready", health.ready, "public",
          "200 when the database answers within a second and migrations are applied, else 503"),
    # Auth
    # A new user or token changes no cached answer (the NOTIFY triggers ignore INSERTs on these tables too).
    Route("POST", "/api/auth/register", auth.register, "public", "Create an account", body=user_schema.REGISTER,
          response="user", status=201),
    Route("POST", "/api/auth/login", auth.login, "public", "Exchange email and password for a bearer token",
          body=user_schema.LOGIN, response="token"),
    Route("POST", "/api/auth/logout", auth.logout, "user", "Revoke the token of this request",
          response="no content", status=204, writes=("access_tokens",)),
    Route("GET", "/api/auth/me", auth.me, "user", "The caller", response="user"),
    # Clients
    Route("GET", "/api/clients", clients.list_clients, "user", "The caller's clients",
          query=client_schema.FILTERS, paginated=True, response="list of client"),
    Route("POST", "/api/clients", clients.create_client, "user", "Create a client", body=client_schema.CLIENT,
          response="client", status=201, writes=("clients",), rows=NEW_ROWS),
    Route("GET", "/api/clients/{id}", clients.get_client, "user", "One client", response="client"),
    Route("PATCH", "/api/clients/{id}", clients.patch_client, "user", "Change a client's fields",
          body=client_schema.CLIENT, response="client", writes=("clients",), rows=PATH_ROW),
    Route("DELETE", "/api/clients/{id}", clients.delete_client, "user",
          "Delete a client with its projects, runs and posts", response="no content", status=204, writes=_ALL),
    # Projects
    Route("GET", "/api/projects", projects.list_projects, "user", "The caller's projects",
          query=project_schema.FILTERS, paginated=True, response="list of project"),
    Route("POST", "/api/projects", projects.create_project, "user", "Create a project under a client",
          body=project_schema.PROJECT, response="project", status=201, writes=("projects",), rows=NEW_ROWS),
    Route("GET", "/api/projects/{id}", projects.get_project, "user", "One project with its post counts",
          response="project"),
    Route("PATCH", "/api/projects/{id}", projects.patch_project, "user",
          "Change a project's fields (delivered: a delivery email job for its client)",
          body=project_schema.PROJECT, response="project", writes=("projects", "jobs"), rows=PATH_ROW),
    Route("DELETE", "/api/projects/{id}", projects.delete_project, "user",
          "Delete a project with its runs and posts", response="no content", status=204,
          writes=("projects", "runs", "posts")),
    # Runs
    Route("POST", "/api/projects/{id}/runs", runs.create_run, "user", "Start a generation run of a project",
          body=run_schema.CREATE, response="run", status=201, writes=("runs",), rows=NEW_ROWS),
    Route("GET", "/api/runs", runs.list_runs, "user", "The caller's runs", query=run_schema.FILTERS,
          paginated=True, response="list of run"),
    Route("GET", "/api/runs/{id}", runs.get_run, "user", "One run", response="run"),
    Route("PATCH", "/api/runs/{id}", runs.patch_run, "user", "Change a run's status, error or logs",
          body=run_schema.PATCH, response="run", writes=("runs",), rows=PATH_ROW),
    # Posts
    Route("GET", "/api/posts", posts.list_posts, "user", "The caller's posts, filtered",
          query=post_schema.FILTERS, paginated=True, response="list of post"),
    Route("POST", "/api/posts", posts.create_posts, "user",
          f"Create one post, or up to {post_schema.MAX_BULK} as {{\"items\": [...]}} in one transaction",
          body=post_schema.POST, response="post", status=201, writes=("posts",), rows=NEW_ROWS),
    Route("GET", "/api/posts/{id}", posts.get_post, "user", "One post", response="post"),
    Route("PATCH", "/api/posts/{id}", posts.patch_post, "user", "Change a post's fields",
          body=post_schema.PATCH, response="post", writes=("posts",), rows=PATH_ROW),
    Route("DELETE", "/api/posts/{id}", posts.delete_post, "user", "Delete a post", response="no content",
          status=204, writes=("posts",), rows=PATH_ROW),
    # Jobs (issue 10): never cached, so writing "jobs" drops nothing (cache/invalidation.py)
    Route("POST", "/api/projects/{id}/exports", jobs.create_export, "user",
          "Export a project's posts (csv or jsonl) in the background; Idempotency-Key honoured",
          body=job_schema.EXPORT, response="job", status=202, writes=("jobs",)),
    Route("POST", "/api/projects/{id}/reports", jobs.create_report, "user",
          "Build a project's JSON report in the background; Idempotency-Key honoured",
          body=job_schema.REPORT, response="job", status=202, writes=("jobs",)),
    Route("GET", "/api/jobs", jobs.list_jobs, "user", "The caller's jobs", query=job_schema.FILTERS,
          paginated=True, response="list of job"),
    Route("GET", "/api/jobs/{id}", jobs.get_job, "user", "One job", response="job"),
    Route("POST", "/api/jobs/{id}/cancel", jobs.cancel_job, "user",
          "Cancel a job: queued at once, running at its next checkpoint; 409 when finished",
          response="job", writes=("jobs",)),
    Route("GET", "/api/jobs/{id}/result", jobs.job_result, "user",
          "A succeeded job's result file, streamed; 409 job_not_finished before", response="file"),
    # Admin: pool, cache, profiling, everything at once (the GETs also accept METRICS_TOKEN)
    Route("GET", "/api/health/database", database.database, "admin_or_metrics",
          "Pool state, server capacity, advice"),
    Route("GET", "/api/health/database/events", database.database_events, "admin_or_metrics",
          "Pool event counters and timings since start"),
    Route("GET", "/api/health/cache", cache.cache_stats, "admin_or_metrics", "Cache tiers: sizes, hits, misses, advice",
          query=admin_schema.CACHE_TIER),
    Route("POST", "/api/health/cache/clear", cache.cache_clear, "admin",
          "Clear all, one tier, or one resource's namespace", query=admin_schema.CACHE_CLEAR),
    Route("POST", "/api/health/cache/reset-stats", cache.cache_reset_stats, "admin",
          "Zero the cache counters, keep the entries", query=admin_schema.NONE),
    Route("GET", "/api/health/profiling", profiling.profiling_report, "admin_or_metrics",
          "Query profile: summary, slowest, N+1 findings, advice"),
    Route("GET", "/api/health/profiling/queries", profiling.profiling_queries, "admin_or_metrics",
          "Statistics per normalized query", query=admin_schema.PROFILING_QUERIES),
    Route("GET", "/api/health/profiling/slow-queries", profiling.profiling_slow_queries, "admin_or_metrics",
          "Recent slow executions", query=admin_schema.SLOW_QUERIES),
    Route("POST", "/api/health/profiling/reset", profiling.profiling_reset, "admin", "Clear profiling data"),
    Route("GET", "/api/health/jobs", admin_jobs.health_jobs, "admin_or_metrics",
          "Job queue: depth by kind and status, oldest queued age, running jobs, workers, recent failures"),
    Route("GET", "/api/health/full", full.full, "admin_or_metrics", "Every check summarized; 503 when unhealthy"),
    # The admin status page (issue 12): public HTML and assets holding no data; its script signs an admin
    # in and polls the admin routes above with the token (service/api/admin/status_page.py).
    Route("GET", "/api/health/dashboard", status_page.status_page, "public",
          "The admin status page (HTML); its data comes from the admin routes, with an admin's token",
          response="html page"),
    Route("GET", "/api/health/dashboard/app.js", status_page.status_page_script, "public",
          "The status page's script", response="javascript"),
    Route("GET", "/api/health/dashboard/app.css", status_page.status_page_style, "public",
          "The status page's style sheet", response="css"),
    # The API's own description (issue 11): built from this table and service/schemas (api/openapi.py)
    Route("GET", "/api/openapi.json", docs.openapi_json, "public", "This OpenAPI 3.1 document",
          response="openapi document"),
    Route("GET", "/api/docs", docs.docs_page, "public", "Interactive API documentation (Swagger UI, HTML)",
          response="html page"),
    Route("GET", "/api/docs/init.js", docs.docs_script, "public", "The documentation page's start-up script",
          response="javascript"),
    Route("GET", "/api/docs/swagger-ui-bundle.js", docs.swagger_bundle, "public", "Swagger UI (packaged)",
          response="javascript"),
    Route("GET", "/api/docs/swagger-ui.css", docs.swagger_style, "public", "Swagger UI's style sheet (packaged)",
          response="css"),
    # Prometheus
    Route("GET", "/metrics", metrics.metrics, "metrics", "Prometheus text format", response="metrics"),
)


def _without_query(handler: Handler) -> Handler:
    """A route that takes no query parameters refuses any (400 naming each), like the
    routes that take some: a typo never silently does something else."""
    @functools.wraps(handler)
    async def refusing_query(request: web.Request) -> web.StreamResponse:
        if request.query_string:
            parse_query(request.query, admin_schema.NONE)
        return await handler(request)
    return refusing_query


def add_routes(app: web.Application, routes: tuple[Route, ...] = ROUTES) -> None:
    for route in routes:
        handler = route.handler
        if route.query is None and not route.paginated and route.response not in FILE_RESPONSES:
            handler = _without_query(handler)
        app.router.add_route(route.method, route.path, handler)
        if route.method == "GET" and route.response != "file":
            # HEAD of every GET (RFC 9110 9.3.2): the same handler and headers; aiohttp sends no
            # body. Not for a streamed file (the job result): StreamResponse.write() would send
            # its bytes after a HEAD's headers, out of step with the connection's next answer.
            app.router.add_route("HEAD", route.path, handler)


def write_tables(routes: tuple[Route, ...] = ROUTES) -> dict[tuple[str, str], tuple[str, ...]]:
    """(method, path) -> tables a successful call can change, for every write route."""
    return {(route.method, route.path): route.writes for route in routes if route.is_write}


def write_rows(routes: tuple[Route, ...] = ROUTES) -> dict[tuple[str, str], str]:
    """(method, path) -> which rows of its first table a successful call changes (Route.rows)."""
    return {(route.method, route.path): route.rows for route in routes if route.is_write}
