"""The paging parameters of a list request (docs/API.md section 5), parsed and checked."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from service.errors import InvalidCursor, InvalidParameter
from service.schemas.validate import parse_whole_number
from service.settings import Settings

PAGE_PARAMETERS = frozenset({"page", "cursor", "page_size", "order"})
ORDERS = ("desc", "asc")


@dataclass(frozen=True)
class PageRequest:
    page: int | None
    cursor: str | None
    page_size: int
    order: str | None          # None: not given (a cursor then keeps its own order)


# The largest integer every JSON reader keeps exact (metadata echoes the page).
MAX_PAGE = 2**53 - 1


def parse_page_request(params: Mapping[str, str], settings: Settings) -> PageRequest:
    """Paging parameters; unknown and repeated names were refused by parse_query first."""
    page = cursor = order = None
    if "page" in params:
        page = parse_whole_number(params["page"], "page")
        if not 1 <= page <= MAX_PAGE:
            raise InvalidParameter(f"page must be between 1 and {MAX_PAGE}", field="page")
    if "cursor" in params:
        cursor = params["cursor"]
        if page is not None:
            raise InvalidParameter("give either page or cursor, not both", field="cursor")
        if not cursor:
            raise InvalidCursor("cursor is empty", field="cursor")
    page_size = settings.default_page_size
    if "page_size" in params:
        page_size = parse_whole_number(params["page_size"], "page_size")
        if not 1 <= page_size <= settings.max_page_size:
            raise InvalidParameter(f"page_size must be between 1 and {settings.max_page_size}", field="page_size")
    if "order" in params:
        order = params["order"]
        if order not in ORDERS:
            raise InvalidParameter("order must be desc or asc", field="order")
    return PageRequest(page, cursor, page_size, order)
