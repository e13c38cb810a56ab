"""What the API answers: the response bodies of the OpenAPI document (service/api/openapi.py).

Documentation only (the handlers build these dicts from SQL rows); the schemathesis
run of tests/integration/test_fuzz_api.py checks every answer against them. They
name the fields a client can rely on; more may be added later, so objects are open
(no additionalProperties: false).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, Required

from typing_extensions import TypedDict

from service.schemas.enums import EXPORT_FORMATS, JOB_KINDS, JOB_STATUSES, PLATFORMS, POST_STATUSES, PROJECT_STATUSES, RUN_STATUSES

Uuid = str


class User(TypedDict):
    id: Uuid
    email: str
    full_name: str | None
    is_admin: bool
    created_at: datetime


class Token(TypedDict):
    access_token: str
    token_type: Literal["bearer"]
    expires_at: datetime
    user: User


class Client(TypedDict):
    id: Uuid
    name: str
    email: str | None
    business_description: str | None
    ideal_customer: str | None
    main_problem_solved: str | None
    tone_preference: str | None
    platforms: list[str]
    customer_pain_points: list[str]
    customer_questions: list[str]
    created_at: datetime
    updated_at: datetime


class PostCounts(TypedDict):
    total: int
    approved: int
    flagged: int


class Project(TypedDict):
    id: Uuid
    client_id: Uuid
    name: str
    status: Literal[PROJECT_STATUSES]       # type: ignore[valid-type]
    template_quantities: dict[str, int]
    num_posts: int | None
    price_per_post: float | None
    research_price_per_post: float | None
    total_price: float | None
    platforms: list[str]
    tone: str | None
    created_at: datetime
    updated_at: datetime
    # The single-project answers only (GET, POST, PATCH), not list items: the one optional key.
    post_counts: NotRequired[PostCounts]


class Run(TypedDict):
    """A run. GET /api/runs/{id} and writes carry its logs; a list carries log_count instead."""
    id: Uuid
    project_id: Uuid
    is_batch: bool
    status: Literal[RUN_STATUSES]           # type: ignore[valid-type]
    started_at: datetime | None
    completed_at: datetime | None
    logs: NotRequired[list[Any]]
    log_count: NotRequired[int]
    error_message: str | None
    created_at: datetime
    updated_at: datetime


class Post(TypedDict):
    id: Uuid
    project_id: Uuid
    run_id: Uuid | None
    content: str
    template_id: str | None
    template_name: str | None
    variant: int | None
    word_count: int
    readability_score: float | None
    has_cta: bool
    status: Literal[POST_STATUSES]          # type: ignore[valid-type]
    flags: list[str]
    target_platform: Literal[PLATFORMS] | None   # type: ignore[valid-type]
    created_at: datetime
    updated_at: datetime


class PostItems(TypedDict):
    """POST /api/posts with {"items": [...]}: the created posts, in the order given."""
    items: list[Post]


class Progress(TypedDict):
    done: int
    total: int | None


class JobResult(TypedDict):
    content_type: str
    bytes: int
    rows: int | None
    sha256: str


class JobParams(TypedDict, total=False):
    format: Literal[EXPORT_FORMATS]         # type: ignore[valid-type]
    status: str | None
    platform: str | None


class Job(TypedDict):
    id: Uuid
    kind: Literal[JOB_KINDS]                # type: ignore[valid-type]
    status: Literal[JOB_STATUSES]           # type: ignore[valid-type]
    project_id: Uuid | None
    params: dict[str, Any]
    attempts: int
    max_attempts: int
    progress: Progress
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: JobResult | None


class PageMetadata(TypedDict):
    """docs/API.md section 5: offset pages carry totals; cursor pages may not."""
    total: int | None
    total_is_estimate: bool     # true: the planner's estimate (docs/API.md section 5, Totals)
    page: int | None
    page_size: int
    total_pages: int | None
    has_next: bool
    has_prev: bool
    next_cursor: str | None
    prev_cursor: str | None
    strategy: Literal["offset", "cursor"]
    # The order the rows and both cursors keep (a cursor page answers its cursor's order).
    order: Literal["desc", "asc"]


class Health(TypedDict):
    status: str
    service: str
    version: str


class Status(TypedDict, total=False):
    """A health answer: status, and what was checked."""
    status: str


class ErrorItem(TypedDict):
    field: str | None
    message: str


class ErrorDetail(TypedDict, total=False):
    status: Required[int]
    code: Required[str]
    message: Required[str]
    field: str
    errors: list[ErrorItem]             # 400 and 422: every problem found (at most 100)
    errors_truncated: bool              # more than 100 problems


class Error(TypedDict):
    """The error envelope of docs/API.md section 3."""
    error: ErrorDetail
    request_id: str


def page_of(item: type) -> type:
    """The list answer of a paginated route: {items, metadata}."""
    model = TypedDict(f"{item.__name__}Page", {"items": list[item], "metadata": PageMetadata})  # type: ignore[operator]  # noqa: UP013
    model.__doc__ = f"One page of {item.__name__.lower()}s (docs/API.md section 5)."
    return model
