"""The seven files of a paginated list (docs/API.md section 5), named by convention:
sql/<resource>/list_offset_{desc,asc}, list_keyset_{desc,asc}, boundary_{desc,asc}, count."""
from __future__ import annotations

from service.db.registry import query
from service.pagination.page_request import ORDERS
from service.pagination.paginator import ListQueries


def list_queries(resource: str, text_index_pattern=None, text_rare_pattern=None,
                 tally_scopes: frozenset[str] = frozenset()) -> ListQueries:
    """With tally_scopes the list also has tally_count (its totals within those scopes
    from maintained counts: the filters that file takes, Paginator._tallied).
    With text_index_pattern the list also has text_walk_{desc,asc} and
    text_matches_{desc,asc} (page 1 of a search read by a plan the service chooses,
    Paginator._text_first_page, and its numbered pages from the matches) and
    text_boundary_{desc,asc} (deep pages of a common term, Paginator._text_numbered_page);
    with text_rare_pattern text_keyset_{desc,asc} (cursor pages of a rare term,
    Paginator._text_cursor_page)."""
    text_search = text_index_pattern is not None
    tally = query(f"{resource}/tally_count") if tally_scopes else None
    return ListQueries(
        resource=resource,
        offset={o: query(f"{resource}/list_offset_{o}") for o in ORDERS},
        keyset={o: query(f"{resource}/list_keyset_{o}") for o in ORDERS},
        boundary={o: query(f"{resource}/boundary_{o}") for o in ORDERS},
        count=query(f"{resource}/count"),
        text_walk={o: query(f"{resource}/text_walk_{o}") for o in ORDERS} if text_search else None,
        text_matches={o: query(f"{resource}/text_matches_{o}") for o in ORDERS} if text_search else None,
        text_boundary={o: query(f"{resource}/text_boundary_{o}") for o in ORDERS} if text_search else None,
        text_index_pattern=text_index_pattern,
        text_keyset={o: query(f"{resource}/text_keyset_{o}") for o in ORDERS} if text_rare_pattern else None,
        text_rare_pattern=text_rare_pattern,
        tally=tally,
        tally_filters=frozenset(tally.params) if tally is not None else frozenset(),
        tally_scopes=tally_scopes,
    )
