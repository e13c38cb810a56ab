"""Client bodies and list filters."""
from __future__ import annotations

from service.schemas.fields import SEARCH, Field

_TEXT = Field("text", max_length=10000)
CLIENT = {
    "name": Field("text", required=True, nullable=False, min_length=1, max_length=200),
    "email": Field("email", max_length=254),
    "business_description": _TEXT,
    "ideal_customer": _TEXT,
    "main_problem_solved": _TEXT,
    "tone_preference": Field("text", max_length=200),
    "platforms": Field("text_list", max_length=50, max_items=20),
    "customer_pain_points": Field("text_list", max_length=1000, max_items=100),
    "customer_questions": Field("text_list", max_length=1000, max_items=100),
}
FILTERS = {"search": SEARCH}
