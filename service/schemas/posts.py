"""Post bodies (one, or up to MAX_BULK at once) and list filters."""
from __future__ import annotations

from service.schemas.enums import PLATFORMS, POST_STATUSES
from service.schemas.fields import SEARCH, Field

MAX_BULK = 1000
POST = {
    "project_id": Field("id", required=True, nullable=False),
    "run_id": Field("id"),
    "content": Field("text", required=True, nullable=False, min_length=1, max_length=100000),
    "template_id": Field("text", max_length=200),
    "template_name": Field("text", max_length=200),
    "variant": Field("int", minimum=0, maximum=1_000_000),
    "word_count": Field("int", minimum=0, maximum=1_000_000),
    "readability_score": Field("number", minimum=0, maximum=100),
    "has_cta": Field("bool", nullable=False),
    "status": Field("text", nullable=False, choices=POST_STATUSES),
    "flags": Field("text_list", max_length=200, max_items=50),
    "target_platform": Field("text", choices=PLATFORMS),
}
PATCH = {name: spec for name, spec in POST.items() if name != "project_id"}
PATCH["content"] = Field("text", nullable=False, min_length=1, max_length=100000)
FILTERS = {
    "project_id": Field("id"),
    "run_id": Field("id"),
    "status": Field("text", choices=POST_STATUSES),
    "platform": Field("text", choices=PLATFORMS),
    "has_cta": Field("bool"),
    "template_name": SEARCH,
    "needs_review": Field("bool"),
    "search": SEARCH,
    # word_count is a PostgreSQL integer: a larger bound would fail in the driver, not here.
    "min_word_count": Field("int", minimum=0, maximum=2**31 - 1),
    "max_word_count": Field("int", minimum=0, maximum=2**31 - 1),
    "min_readability": Field("number", minimum=0, maximum=100),
    "max_readability": Field("number", minimum=0, maximum=100),
}
