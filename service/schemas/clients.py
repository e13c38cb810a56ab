"""Client bodies and list filters."""
from __future__ import annotations

from typing import NotRequired, Required

from typing_extensions import TypedDict

from service.schemas.types import STRICT, Email, Search, Text, TextList


class ClientBody(TypedDict, total=False):
    """A client (the business content is made for)."""
    __pydantic_config__ = STRICT
    name: Required[Text(200, 1, examples=["Acme Coffee"])]
    email: NotRequired[Email | None]
    business_description: NotRequired[Text() | None]
    ideal_customer: NotRequired[Text() | None]
    main_problem_solved: NotRequired[Text() | None]
    tone_preference: NotRequired[Text(200) | None]
    platforms: NotRequired[TextList(20, 50) | None]
    customer_pain_points: NotRequired[TextList(100, 1000) | None]
    customer_questions: NotRequired[TextList(100, 1000) | None]


class ClientFilters(TypedDict, total=False):
    __pydantic_config__ = STRICT
    search: Search


CLIENT, FILTERS = ClientBody, ClientFilters
