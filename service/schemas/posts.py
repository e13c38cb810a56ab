"""Post bodies (one, or up to MAX_BULK at once) and list filters."""
from __future__ import annotations

from typing import Annotated, NotRequired, Required

from pydantic import Field
from typing_extensions import TypedDict

from service.schemas.enums import PLATFORMS, POST_STATUSES
from service.schemas.types import INT32_MAX, STRICT, Choice, Id, Int, Number, QueryBool, QueryInt, QueryNumber, Search, Text, TextList

MAX_BULK = 1000
Content = Text(100000, 1, examples=["Five ways to brew better coffee at home."])


class PostBody(TypedDict, total=False):
    """A generated post. word_count defaults to the words of content; status to flagged when flags are given."""
    __pydantic_config__ = STRICT
    project_id: Required[Id]
    run_id: NotRequired[Id | None]
    content: Required[Content]
    template_id: NotRequired[Text(200) | None]
    template_name: NotRequired[Text(200) | None]
    variant: NotRequired[Int() | None]
    word_count: NotRequired[Int() | None]
    readability_score: NotRequired[Number(0, 100) | None]
    has_cta: NotRequired[bool]
    status: NotRequired[Choice(POST_STATUSES)]
    flags: NotRequired[TextList(50, 200) | None]
    target_platform: NotRequired[Choice(PLATFORMS) | None]


class BulkPosts(TypedDict):
    """Up to MAX_BULK posts created in one transaction; any bad item refuses them all."""
    __pydantic_config__ = STRICT
    items: Annotated[list[PostBody], Field(min_length=1, max_length=MAX_BULK)]


class PostPatch(TypedDict, total=False):
    """Any post field but project_id; content may change but never be null or empty."""
    __pydantic_config__ = STRICT
    run_id: NotRequired[Id | None]
    content: NotRequired[Content]
    template_id: NotRequired[Text(200) | None]
    template_name: NotRequired[Text(200) | None]
    variant: NotRequired[Int() | None]
    word_count: NotRequired[Int() | None]
    readability_score: NotRequired[Number(0, 100) | None]
    has_cta: NotRequired[bool]
    status: NotRequired[Choice(POST_STATUSES)]
    flags: NotRequired[TextList(50, 200) | None]
    target_platform: NotRequired[Choice(PLATFORMS) | None]


class PostFilters(TypedDict, total=False):
    __pydantic_config__ = STRICT
    project_id: Id
    run_id: Id
    status: Choice(POST_STATUSES)
    platform: Choice(PLATFORMS)
    has_cta: QueryBool
    template_name: Search
    needs_review: QueryBool
    search: Search
    # word_count is a PostgreSQL integer: a larger bound would fail in the driver, not here.
    min_word_count: QueryInt(0, INT32_MAX)
    max_word_count: QueryInt(0, INT32_MAX)
    min_readability: QueryNumber(0, 100)
    max_readability: QueryNumber(0, 100)


POST, BULK, PATCH, FILTERS = PostBody, BulkPosts, PostPatch, PostFilters
