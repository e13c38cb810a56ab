"""Project bodies and list filters."""
from __future__ import annotations

from service.schemas.enums import PROJECT_STATUSES
from service.schemas.fields import SEARCH, Field

PRICE = Field("number", minimum=0, maximum=9_999_999_999.99)     # numeric(12,2)
PROJECT = {
    "client_id": Field("id", required=True, nullable=False),
    "name": Field("text", required=True, nullable=False, min_length=1, max_length=200),
    "status": Field("text", nullable=False, choices=PROJECT_STATUSES),
    "template_quantities": Field("int_map", max_items=200),
    "num_posts": Field("int", minimum=0, maximum=1_000_000),
    "price_per_post": PRICE,
    "research_price_per_post": PRICE,
    "total_price": PRICE,
    "platforms": Field("text_list", max_length=50, max_items=20),
    "tone": Field("text", max_length=200),
}
FILTERS = {
    "status": Field("text", choices=PROJECT_STATUSES),
    "client_id": Field("id"),
    "search": SEARCH,
}
