"""The OpenAPI 3.1 document, built from the route table (service/api/routes.py) and the
pydantic schemas (service/schemas): no second description of the API to drift.

Each route gives its method, path, who may call (security and 401/403), its body
(422), its query (400), paging, success status and answer; this module adds what
every route shares (the error envelope, 503 with Retry-After, 304 for GETs with an
ETag). tests/integration/test_openapi.py proves the router and the document agree
both ways and that openapi-spec-validator accepts it.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import TypeAdapter

from service import __version__
from service.errors import ValidationFailed
from service.pagination.cursors import MAX_CURSOR_LENGTH
from service.pagination.page_request import MAX_PAGE
from service.schemas import posts as post_schema
from service.schemas import responses as out
from service.schemas.validate import partial, validate_body

TITLE = "Content Jumpstart API"
REF = "#/components/schemas/{model}"

# Route.response -> the schema of a successful answer
_RESOURCES = {"user": out.User, "token": out.Token, "client": out.Client, "project": out.Project,
              "run": out.Run, "post": out.Post, "job": out.Job}
_MEDIA = {"html page": "text/html", "javascript": "text/javascript", "css": "text/css",
          "metrics": "text/plain"}
_WHAT_404 = {"clients": "client", "projects": "project", "runs": "run", "posts": "post", "jobs": "job"}

# Answers a browser or a scraper fetches as files: they ignore a query string (a cache
# buster); every other route refuses query parameters it does not take (api/routes.py).
FILE_RESPONSES = frozenset({"html page", "javascript", "css", "metrics", "openapi document"})

_ERRORS = {
    400: "Bad parameter or body: invalid JSON, an unknown or malformed query parameter, an invalid cursor",
    401: "No token, or an invalid or expired one",
    403: "Authenticated but not an admin",
    404: "No such object (or not the caller's; a malformed id is not found too)",
    408: "The body did not arrive in time (REQUEST_BODY_TIMEOUT_S); the connection is closed",
    409: "Conflict",
    413: "Body too large",
    415: ("Body is not application/json in UTF-8 (a charset other than utf-8 is refused), or its "
          "Content-Encoding is not gzip, deflate or identity"),
    422: "Well-formed JSON that breaks the schema; error.errors lists every problem",
    429: "Too many requests of this caller; retry after Retry-After seconds",
    503: ("Database unavailable, pool exhausted, statement timed out, or the service busy (request bodies, "
          "unread answers, downloads, password hashing); retry after Retry-After seconds"),
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                                "schema": {"type": "integer", "minimum": 0}}}
_JOB_LOCATION = {"Location": {"description": "The job's own URL, /api/jobs/{id}", "required": True,
                               "schema": {"type": "string"}}}
_EXAMPLE_BODY = {"colour": "blue"}


def _example_422(route) -> dict:
    """The answer this route's own validation gives a body with an unknown name
    (service/schemas/validate.py): unknown names first, then what the body lacks. Computed,
    not written, so that it is the answer of this route, never one another body gives."""
    try:
        validate_body(dict(_EXAMPLE_BODY), route.body, partial=route.method == "PATCH")
    except ValidationFailed as exc:
        error = {"status": exc.status, "code": exc.code, "message": exc.message}
        if exc.field is not None:
            error["field"] = exc.field
        error["errors"] = exc.errors
        return {"error": error, "request_id": "3f2a9c1e7b4d-1a"}
    raise AssertionError(f"{route.method} {route.path} takes {_EXAMPLE_BODY}")


# The job routes whose answer depends on the job's state (GET /api/jobs/{id} answers any state).
_JOB_STATE_BOUND = ("/cancel", "/result")


# Signed-in routes whose handlers answer from the process's memory and run no SQL (api/admin/cache.py,
# api/admin/profiling.py): the only ones a user's database share (DB_USER_CONCURRENCY) cannot refuse.
_NO_SQL = frozenset({("GET", "/api/health/cache"), ("POST", "/api/health/cache/clear"),
                     ("POST", "/api/health/cache/reset-stats"), ("GET", "/api/health/profiling"),
                     ("GET", "/api/health/profiling/queries"), ("GET", "/api/health/profiling/slow-queries"),
                     ("POST", "/api/health/profiling/reset"),
                     # the token lookup alone, which takes none of the user's sessions
                     ("GET", "/api/auth/me")})


def _too_many_reasons(route) -> list[str]:
    """Why this route may answer 429: the caller's share of something it spends."""
    reasons = []
    if route.auth in ("user", "admin", "admin_or_metrics") and (route.method, route.path) not in _NO_SQL:
        # db/fairness.py: every query after the token's takes one of the user's sessions.
        reasons.append("database sessions of this user busy at once (DB_USER_CONCURRENCY) for longer than "
                       "DB_POOL_TIMEOUT")
    if route.path == "/api/auth/login":
        reasons.append("failed logins from this address or for this account, or password checks of this "
                       "address at once")
    if route.path == "/api/auth/register":
        reasons.append("registrations from this address (REGISTER_MAX_PER_ADDRESS per REGISTER_WINDOW_S), "
                       "or password hashes of this address at once")
    if route.path.endswith(("/exports", "/reports")):
        reasons.append("jobs queued or running for this user (JOBS_MAX_ACTIVE_PER_USER), or bytes of its stored "
                       "results (JOBS_MAX_RESULT_BYTES_PER_USER)")
    if route.path in ("/api/projects", "/api/projects/{id}") and route.method in ("POST", "PATCH"):
        reasons.append("a delivery notice this write enqueues (status delivered) past this user's jobs queued "
                       "or running (JOBS_MAX_ACTIVE_PER_USER)")
    if route.body is not None:
        reasons.append("request bodies of this caller being read or processed at once (16 MiB)")
    if route.method == "GET" and route.response != "file":       # a file is streamed, never held whole
        reasons.append("earlier answers of this caller still unread by its client (32 MiB waiting to be sent)")
    if route.path == "/api/jobs/{id}/result":
        reasons.append("downloads of this caller at once (4)")
    return reasons


class _Components:
    """Collects the JSON Schemas of the document's models into components/schemas."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: Any, mode: str = "validation", name: str | None = None) -> dict:
        schema = TypeAdapter(model).json_schema(ref_template=REF, mode=mode)
        for key, value in schema.pop("$defs", {}).items():
            self.schemas.setdefault(key, value)
        key = name or schema.get("title") or model.__name__
        self.schemas.setdefault(key, schema)
        return {"$ref": REF.format(model=key)}


_PARENT_GONE = ("An object this request refers to (a parent it names, or the caller's account) was deleted while "
                "it ran; nothing was stored")


def _may_lose_a_parent(route) -> bool:
    """Does a success insert rows, or set a parent id, whose foreign key a concurrent delete
    can break (db/errors.py: 409)? Every create (201, 202), and a PATCH whose body names an id."""
    if route.method == "POST" and route.status in (201, 202):
        return True
    return route.method == "PATCH" and route.body is not None and \
        any(name.endswith("_id") for name in route.body.__annotations__)


def _error(status: int, description: str, components: _Components, route) -> dict:
    answer: dict[str, Any] = {"description": description,
                              "content": {"application/json": {"schema": components.ref(out.Error, "serialization")}}}
    if status in (429, 503):
        answer["headers"] = _RETRY_AFTER
    if status == 422:
        answer["content"]["application/json"]["example"] = _example_422(route)
    return answer


def _unhealthy_report(answer: dict) -> None:
    """GET /api/health/full answers 503 with its whole report when the database is down
    (api/admin/full.py), not with the envelope; the envelope stays possible (the pool
    exhausted, the token lookup failing)."""
    content = answer["content"]["application/json"]
    content["schema"] = {"anyOf": [content["schema"], {
        "type": "object", "required": ["status", "checks"],
        "description": "The report of a 200, with status unhealthy",
        "properties": {"status": {"const": "unhealthy"}, "checks": {"type": "object"}}}]}
    answer["description"] = "The database is down: the whole report, status unhealthy; or " + \
        answer["description"][0].lower() + answer["description"][1:]


# What a filter means (the schema says its type and limits)
_FILTER_TEXT = {
    "project_id": "Only those of this project (404 when it is not the caller's)",
    "client_id": "Only those of this client (404 when it is not the caller's)",
    "run_id": "Only those of this run (404 when it is not the caller's)",
    "status": "Only those with this status", "platform": "Only posts for this target platform",
    "kind": "Only jobs of this kind", "has_cta": "Only posts with (true) or without (false) a call to action",
    "needs_review": "true: only posts with flags; false: only posts without",
    "min_word_count": "At least this many words", "max_word_count": "At most this many words",
    "min_readability": "Readability score at least", "max_readability": "Readability score at most",
    "tier": "One cache tier", "key_prefix": "One resource's namespace",
    "min_execution_count": "Only queries run at least this often", "min_avg_time_ms": "Only queries this slow on average",
    "only_slow": "Only queries with slow executions", "limit": "At most this many rows",
    "since_minutes": "Only executions of the last N minutes", "very_slow_only": "Only very slow executions",
}


def _query_parameters(route, components: _Components, settings_max_page_size: int) -> list[dict]:
    parameters = []
    if route.query is not None:
        schema = TypeAdapter(route.query).json_schema(ref_template=REF)
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            prop.pop("title", None)
            parameters.append({"name": name, "in": "query", "required": False,
                               "description": prop.pop("description", "") or _FILTER_TEXT.get(name, name),
                               "schema": prop})
    if route.paginated:
        parameters += [
            {"name": "page", "in": "query", "description": "Page number (not with cursor)",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
            {"name": "cursor", "in": "query",
             "description": "An opaque next_cursor or prev_cursor of an earlier page (not with page)",
             "schema": {"type": "string", "maxLength": MAX_CURSOR_LENGTH}},
            {"name": "page_size", "in": "query", "description": "Items per page",
             "schema": {"type": "integer", "minimum": 1, "maximum": settings_max_page_size}},
            {"name": "order", "in": "query", "description": "On (created_at, id)",
             "schema": {"type": "string", "enum": ["desc", "asc"], "default": "desc"}},
        ]
    return parameters


def _request_body(route, components: _Components) -> dict | None:
    if route.body is None:
        return None
    if route.method == "PATCH":
        schema = dict(components.ref(partial(route.body)))
        schema = {"allOf": [schema], "minProperties": 1}
    elif route.body is post_schema.POST:
        schema = {"oneOf": [components.ref(post_schema.POST), components.ref(post_schema.BULK)]}
    else:
        schema = components.ref(route.body)
    # Runs, exports and reports take no body at all as an empty object.
    required = bool(TypeAdapter(route.body).json_schema().get("required")) or route.method == "PATCH"
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _success(route, components: _Components) -> tuple[str, dict]:
    status = str(route.status)
    kind = route.response
    if kind == "no content":
        return status, {"description": "Done (no content)"}
    if kind in _MEDIA:
        return status, {"description": route.summary, "content": {_MEDIA[kind]: {"schema": {"type": "string"}}}}
    if kind == "file":
        media = {"schema": {"type": "string", "format": "binary"}}
        return status, {"description": "The result file (csv, jsonl or a JSON report)",
                        "content": {"text/csv": media, "application/x-ndjson": media,
                                    "application/json": {"schema": {"description": "A report (JSON)"}}}}
    if kind.startswith("list of "):
        schema = components.ref(out.page_of(_RESOURCES[kind.removeprefix("list of ")]), "serialization")
    elif route.path == "/api/posts" and route.method == "POST":
        schema = {"oneOf": [components.ref(out.Post, "serialization"),
                            components.ref(out.PostItems, "serialization")]}
    elif kind in _RESOURCES:
        schema = components.ref(_RESOURCES[kind], "serialization")
    elif route.path == "/api/health":
        schema = components.ref(out.Health, "serialization")
    elif kind == "openapi document":
        schema = {"type": "object", "description": "An OpenAPI 3.1 document"}
    else:
        schema = {"type": "object", "description": "A report object; see docs/API.md section 6"}
    return status, {"description": route.summary, "content": {"application/json": {"schema": schema}}}


# What a created object's id leads to (OpenAPI links: clients and stateful fuzzing follow them).
_CREATED = {("POST", "/api/clients"): "/api/clients/{id}", ("POST", "/api/projects"): "/api/projects/{id}",
            ("POST", "/api/projects/{id}/runs"): "/api/runs/{id}", ("POST", "/api/posts"): "/api/posts/{id}",
            ("POST", "/api/projects/{id}/exports"): "/api/jobs/{id}",
            ("POST", "/api/projects/{id}/reports"): "/api/jobs/{id}"}


def _links(route) -> dict:
    from service.api.routes import ROUTES
    target = _CREATED.get((route.method, route.path))
    if target is None:
        return {}
    links = {}
    for other in ROUTES:
        if other.path == target or (target == "/api/projects/{id}" and other.path.startswith("/api/projects/{id}/")) \
                or (target == "/api/jobs/{id}" and other.path.startswith("/api/jobs/{id}/")):
            name = f"{other.method.lower()}_{other.path.strip('/').replace('/', '_').replace('{id}', 'id')}"
            links[name] = {"operationId": _operation_id(other), "parameters": {"id": "$response.body#/id"}}
    return links


def _operation_id(route) -> str:
    return f"{route.handler.__module__.rsplit('.', 1)[-1]}_{route.handler.__name__}"


def _operation(route, components: _Components, max_page_size: int) -> dict:
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "tags": [route.path.split("/")[2] if route.path.startswith("/api/") else "metrics"],
    }
    parameters = []
    if "{id}" in route.path:
        parameters.append({"name": "id", "in": "path", "required": True,
                           "description": "The object's id; anything that is not one of the caller's is 404",
                           "schema": {"type": "string", "format": "uuid"}})
    parameters += _query_parameters(route, components, max_page_size)
    if route.path.endswith(("/exports", "/reports")):
        parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "description": "The same key within a day answers the first job (200) instead of a new one",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 128}})
    if parameters:
        operation["parameters"] = parameters
    body = _request_body(route, components)
    if body is not None:
        operation["requestBody"] = body

    status, success = _success(route, components)
    responses: dict[str, Any] = {status: success}
    if route.path.endswith(("/exports", "/reports")):
        success["headers"] = _JOB_LOCATION      # api/jobs.py: a new job and a repeated one alike
        responses["200"] = {**success, "description": "The job an earlier request with this Idempotency-Key made"}
    if route.method == "GET" and route.response not in ("no content", "metrics"):     # /metrics: no ETag
        responses["304"] = {"description": "Not modified (If-None-Match matched the ETag)"}
    codes = {503}
    if route.response not in FILE_RESPONSES:
        codes.add(400)      # an unknown query parameter, on every route that is not a file (api/routes.py)
    if route.auth in ("user", "admin", "admin_or_metrics"):
        codes.add(401)
    if route.auth in ("admin", "admin_or_metrics"):
        codes.add(403)
    if route.auth == "metrics":
        codes.add(401)
    if "{id}" in route.path or (route.body is not None and route.path in ("/api/projects", "/api/posts")) or \
            (route.query is not None and any(name.endswith("_id") for name in route.query.__annotations__)) or \
            route.method == "PATCH":
        codes.add(404)
    if route.body is not None:
        # Only where a body is read (http/body.py): a POST that takes none never reads one,
        # whatever is sent, so it never answers 408, 413 or 415.
        codes |= {400, 408, 413, 415, 422}
    if route.path == "/api/auth/register" or route.path.endswith(_JOB_STATE_BOUND) or _may_lose_a_parent(route):
        codes.add(409)
    if route.path == "/api/auth/login":
        codes.add(401)
    too_many = _too_many_reasons(route)
    if too_many:
        codes.add(429)
    for code in sorted(codes):
        description = _ERRORS[code]
        if code == 409:
            description = ("Email already registered" if route.path == "/api/auth/register"
                           else "The job is already finished (cancel) or not finished yet (result)"
                           if route.path.endswith(_JOB_STATE_BOUND) else _PARENT_GONE)
        if code == 429:
            description = "Too many " + "; or ".join(too_many) + "; retry after Retry-After seconds"
        responses[str(code)] = _error(code, description, components, route)
    if route.path == "/api/health/full":
        _unhealthy_report(responses["503"])
    links = _links(route)
    if links:
        responses[status]["links"] = links
    operation["responses"] = responses
    if route.auth in ("user", "admin"):
        operation["security"] = [{"bearer": []}]
    elif route.auth in ("admin_or_metrics", "metrics"):
        operation["security"] = [{"bearer": []}, {}] if route.auth == "metrics" else [{"bearer": []}]
    else:
        operation["security"] = []
    if route.auth == "admin_or_metrics":
        operation["description"] = "An admin's token, or METRICS_TOKEN (for scrapers) as the bearer token."
    elif route.auth == "admin":
        operation["description"] = "An admin's token."
    elif route.auth == "metrics":
        operation["description"] = "Open unless METRICS_TOKEN is set; then that token as the bearer token."
    return operation


@cache
def document(max_page_size: int = 100) -> dict:
    """The whole OpenAPI 3.1 document (cached: it depends only on the code and MAX_PAGE_SIZE)."""
    from service.api.routes import ROUTES

    components = _Components()
    paths: dict[str, dict] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components, max_page_size)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": __version__,
                 "description": ("Raw-SQL async API for content generation projects. Sign in with "
                                 "POST /api/auth/login and send `Authorization: Bearer <access_token>`. "
                                 "Errors share one JSON envelope; 400 and 422 list every problem in error.errors. "
                                 "Rules beyond what the schemas below can say: an integer is written without a "
                                 "fraction (2, not 2.0); no text holds a NUL character; a text of only spaces is "
                                 "empty (refused where a minimum length is given); page and cursor are not given "
                                 "together; an Idempotency-Key is printable.")},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "access_token from POST /api/auth/login"}},
        },
    }
