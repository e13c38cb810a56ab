"""The seven files of a paginated list (docs/API.md section 5), named by convention:
sql/<resource>/list_offset_{desc,asc}, list_keyset_{desc,asc}, boundary_{desc,asc}, count."""
from __future__ import annotations

from service.db.registry import query
from service.pagination.page_request import ORDERS
from service.pagination.paginator import ListQueries


def list_queries(resource: str) -> ListQueries:
    return ListQueries(
        resource=resource,
        offset={o: query(f"{resource}/list_offset_{o}") for o in ORDERS},
        keyset={o: query(f"{resource}/list_keyset_{o}") for o in ORDERS},
        boundary={o: query(f"{resource}/boundary_{o}") for o in ORDERS},
        count=query(f"{resource}/count"),
    )
