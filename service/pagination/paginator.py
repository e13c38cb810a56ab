"""The hybrid paginator: offset and keyset SQL for every list (docs/API.md section 5).

Each list has seven SQL files under sql/<resource>/ sharing one filter block
(owner_id and the list's filters, given by the store as a mapping):
  list_offset_{desc,asc}    filters..., limit, offset
  list_keyset_{desc,asc}    filters..., key_created_at, key_id, limit  (rows strictly after the key)
  boundary_{desc,asc}       filters..., position   (index-only probe: the key at a position)
  count                     filters..., cap        (count of at most `cap` rows)

Pages whose offset is below OFFSET_THRESHOLD read with LIMIT/OFFSET; deeper pages
probe the key just before the page and read it with keyset SQL; a cursor always
reads with keyset SQL. Walking backwards is the opposite order's keyset query,
reversed. Every page asks for one row more than it shows, so has_next (or has_prev
when walking back) is exact, and the other flag is an exact one-row probe.
A page number past an exactly counted end reads nothing; past an estimated end the
probe finds no boundary row. Either way the answer is 200 with no items. A text
search's numbered pages are bounded instead (_text_numbered_page, _check_text_depth):
read from the trigram index's matches (any depth, page 1's cost) or found by a walk with
a budget at most SEARCH_MAX_PAGE_OFFSET rows deep, never by a probe testing ILIKE on
every row before the page.

Totals: page 1 is read before counting, and a first page that ends the list (has_next
false) is its own exact total, with no count query. Otherwise the planner is asked
first: the count runs capped at COUNT_EXACT_LIMIT only when the planner expects at most
twice that many rows at a plan cost of at most COUNT_EXACT_MAX_COST; otherwise, or past
the cap, the planner's estimate is the total. With a text filter
(search, template_name: an ILIKE per row) the planner is asked first and nothing is
counted when it expects more than SEARCH_COUNT_EXACT_LIMIT rows (see count()).
A list with maintained tallies (posts within a project or a run, migration 0110) sums
them instead: exact at any size, a few rows read.
"""
from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from service.db.database import Database, Session
from service.db.registry import Query
from service.errors import InvalidCursor, InvalidParameter
from service.pagination.count_plans import CountPlan, CountPlans
from service.pagination.cursors import Cursor, CursorCodec
from service.pagination.page_request import PageRequest
from service.settings import Settings

OPPOSITE = {"desc": "asc", "asc": "desc"}
# Filters whose every counted row costs an ILIKE test: a smaller exact-count cap.
TEXT_FILTERS = ("search", "template_name")
# No list holds this many rows: a deeper position is past the end without asking the
# database (and would not fit OFFSET's bigint).
_BEYOND_ANY_LIST = 2**62
# A text search's page 1 walks at most this many pages' worth of the list in order before
# reading by the trigram index instead: a word in at least 1/50 (2 %) of the rows fills
# the page within the walk (ILIKE costs ~5 us a row, so ~5 ms for 20-row pages at most).
TEXT_WALK_PAGES = 50


@dataclass(frozen=True)
class ListQueries:
    resource: str
    offset: Mapping[str, Query]
    keyset: Mapping[str, Query]
    boundary: Mapping[str, Query]
    count: Query
    # Page 1 of a text search (only where the list has the files: posts), see _text_first_page.
    text_walk: Mapping[str, Query] | None = None
    text_matches: Mapping[str, Query] | None = None
    # (session, filters) -> the pattern text_matches asks the trigram index for.
    text_index_pattern: Callable[[Session, Mapping[str, Any]], Awaitable[str | None]] | None = None
    # Deep numbered pages of a common text search, see _text_numbered_page.
    text_boundary: Mapping[str, Query] | None = None
    # Cursor pages of a rare search term, see _text_cursor_page; (session, filters) -> the
    # pattern text_keyset asks the trigram index for, or None when the term is not rare.
    text_keyset: Mapping[str, Query] | None = None
    text_rare_pattern: Callable[[Session, Mapping[str, Any]], Awaitable[str | None]] | None = None
    # Maintained counts (posts: migration 0110), see _tallied: the exact total of a list
    # whose filters are all in tally_filters and name at least one of tally_scopes.
    tally: Query | None = None
    tally_filters: frozenset[str] = frozenset()
    tally_scopes: frozenset[str] = frozenset()


def _key(row: asyncpg.Record) -> tuple:
    return (row["created_at"], row["id"])


def _after(row: asyncpg.Record) -> dict:
    """The keyset parameters for the rows after (in the query's order) this one."""
    return {"key_created_at": row["created_at"], "key_id": row["id"]}


def _without(row: asyncpg.Record, column: str) -> dict:
    item = dict(row)
    del item[column]
    return item


def counting_is_cheap(plan: CountPlan, settings: Settings) -> bool:
    """Whether a list without a text filter is counted (its capped count's plan): the
    planner expects at most 2 x COUNT_EXACT_LIMIT rows at a cost of at most
    COUNT_EXACT_MAX_COST. Paginator.count and the bench's ceiling-sql share it."""
    return plan.rows <= 2 * settings.count_exact_limit and plan.cost <= settings.count_exact_max_cost


class Paginator:
    """Runs one list request against its ListQueries and builds items + metadata."""

    def __init__(self, db: Database, settings: Settings, codec: CursorCodec) -> None:
        self.db = db
        self.settings = settings
        self.codec = codec
        self.count_plans = CountPlans()      # recent count plans: page 1 without an EXPLAIN each time

    async def count(self, session: Session, lq: ListQueries, filters: Mapping[str, Any],
                    seen: int = 0) -> tuple[int, bool]:
        """(total, is_estimate): from maintained tallies where the list has them for these
        filters (_tallied, exact at any size); else exact up to COUNT_EXACT_LIMIT rows where
        counting is cheap (_count_without_text), the planner's estimate otherwise.

        With a text filter (search, template_name) the cap is SEARCH_COUNT_EXACT_LIMIT and
        the planner is asked first: when it expects more rows than the cap, nothing is
        counted (counting would be a cap's worth of ILIKE tests, or a second trigram scan)
        and its estimate is the total. An estimate is never below `seen` (rows already read)
        nor below the rows counted."""
        if any(filters.get(name) is not None for name in TEXT_FILTERS):
            limit = self.settings.search_count_exact_limit
            estimate = (await self.count_plans.get(session, lq.count, filters, limit + 1)).rows
            if estimate > limit:
                return max(estimate, seen), True
            capped = await session.fetchval(lq.count, **filters, cap=limit + 1)
            if capped <= limit:
                return capped, False
            if lq.text_matches is not None:
                # The planner expected few matches and was wrong. Page 1 then read every
                # match by the trigram index and showed their exact number
                # (_text_first_page); a later page counts them the same way, or it would
                # report the cap (201) as an estimate where page 1 said 1,113.
                return await self._text_total(session, lq, filters), False
            return max(estimate, capped, seen), True
        if self._tallied(lq, filters):
            return await session.fetchval(lq.tally, **{name: filters.get(name) for name in lq.tally.params}), False
        return await self._count_without_text(session, lq, filters, seen)

    @staticmethod
    def _tallied(lq: ListQueries, filters: Mapping[str, Any]) -> bool:
        """Is the total a sum of maintained tallies? Only for filters the tallies hold, and
        within a project or a run: a handful of tally rows, where a count would read
        every matching post (10,000 per project at 1M). Unscoped, the sum would read a
        tally row per run of every owner, and the estimate stays the cheaper answer."""
        if lq.tally is None:
            return False
        given = {name for name, value in filters.items() if value is not None}
        return bool(given & lq.tally_scopes) and given <= lq.tally_filters

    async def _count_without_text(self, session: Session, lq: ListQueries, filters: Mapping[str, Any],
                                  seen: int) -> tuple[int, bool]:
        """count() with no text filter: the planner first, then a count only where it is cheap.

        The capped count runs only when the planner expects at most 2 x COUNT_EXACT_LIMIT
        rows (fewer would likely be counted to the end; more would only reach the cap and
        be reported as the estimate anyway) and the count's plan costs at most
        COUNT_EXACT_MAX_COST (an index-only range, not a heap walk testing each row).
        Otherwise the estimate is the total, flagged. The EXPLAIN costs ~0.3 ms and is
        reused for 10 s per query and arguments (count_plans.py); a count
        of 10,001 rows 1-10 ms, a heap walk over a filter matching little up to the whole
        table. service/bench/ceiling.py mirrors this rule."""
        limit = self.settings.count_exact_limit
        plan = await self.count_plans.get(session, lq.count, filters, limit + 1)
        estimate = plan.rows
        if not counting_is_cheap(plan, self.settings):
            return max(estimate, seen), True
        capped = await session.fetchval(lq.count, **filters, cap=limit + 1)
        if capped <= limit:
            return capped, False
        return max(estimate, capped, seen), True

    async def page(self, lq: ListQueries, filters: Mapping[str, Any], fingerprint: str, request: PageRequest,
                   serialize: Callable[[asyncpg.Record], dict] = dict) -> dict:
        size = request.page_size
        self._check_text_depth(lq, filters, request)

        async def rows_of(session: Session):
            if request.cursor is not None:
                cursor = self._checked_cursor(lq, fingerprint, request)
                order = cursor.order
                rows, has_next, has_prev = await self._cursor_page(session, lq, filters, cursor, size)
                page = total = total_pages = None
                estimated = False
                strategy = "cursor"
            else:
                order = request.order or "desc"
                page = request.page or 1
                if page == 1:
                    rows, has_next, has_prev, strategy, total, estimated = await self._first_page(
                        session, lq, filters, order, size)
                else:
                    text = None
                    if lq.text_matches is not None and any(filters.get(name) is not None for name in TEXT_FILTERS):
                        text = await self._text_numbered_page(session, lq, filters, order, page, size)
                    if text is not None:
                        rows, has_next, has_prev, strategy, total, estimated = text
                    else:
                        total, estimated = await self.count(session, lq, filters)
                        rows, has_next, has_prev, strategy = await self._numbered_page(
                            session, lq, filters, order, page, size, total, estimated)
                    if estimated and rows and not has_next:
                        # The page ends the list: exactly (page - 1) * size rows come before
                        # it (OFFSET, or the boundary probe at that position), so the list is
                        # those and its own, as page 1 is its own total when it ends the list.
                        # An estimate above it said "page 5 of 100" with nothing after it.
                        total, estimated = (page - 1) * size + len(rows), False
                    elif estimated and rows:
                        # The page proves its rows, those before it and one after: an
                        # estimate below that would say "page 10 of 2".
                        total = max(total, (page - 1) * size + len(rows) + 1)
                total_pages = math.ceil(total / size)
            return rows, has_next, has_prev, page, total, total_pages, estimated, strategy, order

        # On the replica when the router allows it (db/routing.py): one session for every statement.
        rows, has_next, has_prev, page, total, total_pages, estimated, strategy, order = await self.db.read(
            lq.resource, rows_of)

        next_cursor = prev_cursor = None
        if has_next:
            next_cursor = self._encode(lq, order, "next", _key(rows[-1]) if rows else None, fingerprint)
        if has_prev:
            prev_cursor = self._encode(lq, order, "prev", _key(rows[0]) if rows else None, fingerprint)
        return {
            "items": [serialize(row) for row in rows],
            "metadata": {
                "total": total, "total_is_estimate": estimated, "page": page, "page_size": size,
                "total_pages": total_pages, "has_next": has_next, "has_prev": has_prev,
                "next_cursor": next_cursor, "prev_cursor": prev_cursor, "strategy": strategy, "order": order,
            },
        }

    def _check_text_depth(self, lq: ListQueries, filters: Mapping[str, Any], request: PageRequest) -> None:
        """Refuse a numbered page of a text search that starts after more than
        SEARCH_MAX_PAGE_OFFSET rows, before any database work: finding its first row walks
        the list testing ILIKE on every row passed (in proportion to the depth, a word in
        40 % of 1M posts: 0.1 s at page 1,001 and 1.5 s past its end, the whole list for a
        sparser one). Cursors have no such limit: each page is one keyset range. A list
        with text_matches (posts) refuses only the walk (_text_numbered_page): a term read from
        its trigram matches costs what its page 1 costs at any depth, and is served."""
        if request.cursor is not None or not request.page or request.page == 1:
            return
        if lq.text_matches is not None or not any(filters.get(name) is not None for name in TEXT_FILTERS):
            return
        self._refuse_deeper_than_the_cap((request.page - 1) * request.page_size)

    def _refuse_deeper_than_the_cap(self, offset: int) -> None:
        deepest = self.settings.search_max_page_offset
        if offset > deepest:
            raise InvalidParameter(
                f"page of a search may start after at most {deepest} rows (page x page_size); "
                "follow next_cursor to go deeper", field="page")

    def _checked_cursor(self, lq: ListQueries, fingerprint: str, request: PageRequest) -> Cursor:
        cursor = self.codec.decode(request.cursor or "")
        if cursor.resource != lq.resource:
            raise InvalidCursor(f"cursor was issued for another list, not {lq.resource}", field="cursor")
        if cursor.fingerprint != fingerprint:
            raise InvalidCursor("cursor was issued for other filters or another user; start again from page 1",
                                field="cursor")
        if request.order is not None and request.order != cursor.order:
            raise InvalidCursor(f"cursor was issued for order={cursor.order}", field="cursor")
        return cursor

    def _encode(self, lq: ListQueries, order: str, direction: str, key, fingerprint: str) -> str:
        return self.codec.encode(Cursor(lq.resource, order, direction, key, fingerprint))

    async def _first_page(self, session: Session, lq: ListQueries, filters: Mapping[str, Any], order: str,
                          size: int):
        """Page 1, read before counting: when it ends the list, its length is the exact total."""
        if lq.text_matches is not None and any(filters.get(name) is not None for name in TEXT_FILTERS):
            return await self._text_first_page(session, lq, filters, order, size)
        rows = await session.fetch(lq.offset[order], **filters, limit=size + 1, offset=0)
        has_next = len(rows) > size
        if has_next:
            total, estimated = await self.count(session, lq, filters, seen=len(rows))
        else:
            total, estimated = len(rows), False
        strategy = "offset" if self.settings.offset_threshold > 0 else "cursor"
        return rows[:size], has_next, False, strategy, total, estimated

    async def _text_first_page(self, session: Session, lq: ListQueries, filters: Mapping[str, Any], order: str,
                               size: int):
        """Page 1 with a text filter, by a plan chosen here rather than by the planner's guess.

        An ILIKE's selectivity comes from ANALYZE's sample of the column: a word in a third
        of the rows is estimated well, but a rare word is estimated either at the floor
        (0.01 %) or, when the sample happens to hold a match, at 1 %; the planner then walks
        the (created_at, id) index testing ILIKE on every row until the page fills, 200,000
        rows for "post 777" at 1M posts (600 ms). So:
        - the planner expects at most SEARCH_COUNT_EXACT_LIMIT matches: read every match
          once by the trigram index, page and exact total together (text_matches);
        - it expects more: walk at most TEXT_WALK_PAGES pages' worth of the list in order
          (text_walk); a common word fills the page within it and its total is the
          planner's estimate as before; a word that does not was rare after all, and is
          read by the trigram index like the first case."""
        strategy = "offset" if self.settings.offset_threshold > 0 else "cursor"
        limit = self.settings.search_count_exact_limit
        estimate = (await self.count_plans.get(session, lq.count, filters, limit + 1)).rows
        if estimate > limit:
            rows = await session.fetch(lq.text_walk[order], **filters, walk=TEXT_WALK_PAGES * (size + 1),
                                       limit=size + 1)
            if len(rows) > size:
                return rows[:size], True, False, strategy, max(estimate, len(rows)), True
        total, rows = await self._from_matches(session, lq, filters, order, size, 0)
        return rows[:size], len(rows) > size, False, strategy, total, False

    async def _from_matches(self, session: Session, lq: ListQueries, filters: Mapping[str, Any], order: str,
                            size: int, offset: int) -> tuple[int, list]:
        """(the exact number of matches, up to size + 1 rows from `offset`), from one scan of
        every match through the narrowed trigram index (text_matches)."""
        index_pattern = await lq.text_index_pattern(session, filters)
        found = await session.fetch(lq.text_matches[order], **filters, search_index=index_pattern,
                                    limit=size + 1, offset=offset)
        return found[0]["total"], [_without(row, "total") for row in found if row["id"] is not None]

    async def _text_total(self, session: Session, lq: ListQueries, filters: Mapping[str, Any]) -> int:
        """The exact number of a text search's matches, read as page 1 reads them (text_matches)."""
        return (await self._from_matches(session, lq, filters, "desc", 0, 0))[0]

    async def _text_numbered_page(self, session: Session, lq: ListQueries, filters: Mapping[str, Any], order: str,
                                  page: int, size: int):
        """Page 2 on of a text search, by the choice
        page 1 makes (_text_first_page), so that it costs no more than page 1 of such a term:
        - the planner expects at most SEARCH_COUNT_EXACT_LIMIT matches: read every match
          once by the trigram index and take the page by OFFSET (text_matches), with the exact
          total, also past the end;
        - it expects more: a page within OFFSET_THRESHOLD is left to _numbered_page (None);
          a deeper one walks at most TEXT_WALK_PAGES times the rows up to the page's end in
          order to find the match before it (text_boundary; a common word reaches it within
          a small part of that), then reads the page with keyset SQL; a word too sparse for
          the walk is read by the trigram index as above. Only this walk is bounded in
          depth (SEARCH_MAX_PAGE_OFFSET, 400 beyond): the trigram reads cost page 1's.
        boundary_*.sql instead tested ILIKE on every row up to the page, or on the whole
        list for a word rarer than the planner thought, or sorted every match of a common
        word to find a page past its end (1M posts: "roadmap signal" page 11 1.4 s, "growth"
        page 1,000,000 3.0 s)."""
        offset = (page - 1) * size
        limit = self.settings.search_count_exact_limit
        estimate = (await self.count_plans.get(session, lq.count, filters, limit + 1)).rows
        if estimate > limit:
            if offset < self.settings.offset_threshold:
                return None
            self._refuse_deeper_than_the_cap(offset)         # the walk costs in proportion to the depth
            boundary = await session.fetchrow(lq.text_boundary[order], **filters,
                                              walk=TEXT_WALK_PAGES * (offset + size + 1), position=offset - 1)
            if boundary is not None:
                rows = await session.fetch(lq.keyset[order], **filters, **_after(boundary), limit=size + 1)
                if not rows:
                    # The match before the page is the last one: exactly `offset` matches.
                    return [], False, True, "cursor", offset, False
                return rows[:size], len(rows) > size, True, "cursor", estimate, True
        total, rows = await self._from_matches(session, lq, filters, order, size, offset)
        return rows[:size], len(rows) > size, offset > 0 and total > 0, "offset", total, False

    async def _numbered_page(self, session: Session, lq: ListQueries, filters: Mapping[str, Any], order: str,
                             page: int, size: int, total: int, estimated: bool):
        offset = (page - 1) * size
        strategy = "offset" if offset < self.settings.offset_threshold else "cursor"
        if (not estimated and offset >= total) or offset >= _BEYOND_ANY_LIST:
            rows = []               # past the end: nothing to read
        elif strategy == "offset" or offset == 0:
            rows = await session.fetch(lq.offset[order], **filters, limit=size + 1, offset=offset)
        else:
            # The row just before the page, found by an index-only probe; the page
            # itself is then read with keyset SQL from that key.
            boundary = await session.fetchrow(lq.boundary[order], **filters, position=offset - 1)
            rows = [] if boundary is None else await session.fetch(
                lq.keyset[order], **filters, **_after(boundary), limit=size + 1)
        has_next = len(rows) > size
        rows = rows[:size]
        # Rows exist before this page when it is not the first and the list is not empty.
        has_prev = offset > 0 and (bool(rows) or total > 0)
        return rows, has_next, has_prev, strategy

    async def _cursor_page(self, session: Session, lq: ListQueries, filters: Mapping[str, Any], cursor: Cursor, size: int):
        if lq.text_keyset is not None and cursor.key is not None and filters.get("search") is not None:
            index_pattern = await lq.text_rare_pattern(session, filters)
            if index_pattern is not None:
                return await self._text_cursor_page(session, lq, filters, cursor, size, index_pattern)
        forward = cursor.order if cursor.direction == "next" else OPPOSITE[cursor.order]
        if cursor.key is None:      # from the edge: the first page, or (walking back) the last
            rows = await session.fetch(lq.offset[forward], **filters, limit=size + 1, offset=0)
        else:
            rows = await session.fetch(lq.keyset[forward], **filters, key_created_at=cursor.key[0],
                                       key_id=cursor.key[1], limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        if rows:
            # Is there anything on the other side of the first row we read?
            behind = bool(await session.fetch(lq.keyset[OPPOSITE[forward]], **filters, **_after(rows[0]), limit=1))
        else:
            behind = cursor.key is not None and bool(
                await session.fetch(lq.offset[forward], **filters, limit=1, offset=0))
        if cursor.direction == "next":
            return rows, more, behind
        rows.reverse()
        return rows, behind, more

    async def _text_cursor_page(self, session: Session, lq: ListQueries, filters: Mapping[str, Any], cursor: Cursor,
                                size: int, index_pattern: str):
        """A cursor page of a search for a rare term: its matches read once by the trigram
        index (text_keyset), which also says whether any lies on the other side of the key;
        walking the list in order would test ILIKE on ~1/frequency rows per match
        ("post 777" at 1M posts: ~900 rows a match, ~30 ms a page, and again for the probe)."""
        forward = cursor.order if cursor.direction == "next" else OPPOSITE[cursor.order]
        found = await session.fetch(lq.text_keyset[forward], **filters, search_index=index_pattern,
                                    key_created_at=cursor.key[0], key_id=cursor.key[1], limit=size + 1)
        behind = bool(found) and bool(found[0]["behind"])
        rows = [_without(row, "behind") for row in found if row["id"] is not None]
        more = len(rows) > size
        rows = rows[:size]
        if cursor.direction == "next":
            return rows, more, behind
        rows.reverse()
        return rows, behind, more
