"""Project bodies and list filters."""
from __future__ import annotations

from typing import NotRequired, Required

from typing_extensions import TypedDict

from service.schemas.enums import PROJECT_STATUSES
from service.schemas.types import STRICT, Choice, Id, Int, IntMap, Number, Search, Text, TextList

PRICE_MAX = 9_999_999_999.99             # numeric(12,2)
Price = Number(0, PRICE_MAX)


class ProjectBody(TypedDict, total=False):
    """A project of a client. total_price defaults to num_posts x (price_per_post + research_price_per_post)."""
    __pydantic_config__ = STRICT
    client_id: Required[Id]
    name: Required[Text(200, 1, examples=["Spring launch"])]
    status: NotRequired[Choice(PROJECT_STATUSES)]
    template_quantities: NotRequired[IntMap(200) | None]
    num_posts: NotRequired[Int() | None]
    price_per_post: NotRequired[Price | None]
    research_price_per_post: NotRequired[Price | None]
    total_price: NotRequired[Price | None]
    platforms: NotRequired[TextList(20, 50) | None]
    tone: NotRequired[Text(200) | None]


class ProjectFilters(TypedDict, total=False):
    __pydantic_config__ = STRICT
    status: Choice(PROJECT_STATUSES)
    client_id: Id
    search: Search


PROJECT, FILTERS = ProjectBody, ProjectFilters
