"""Recent plans of the capped count queries, so that a list's page 1 need not ask the
planner again for every request.

Paginator.count decides from the count's plan whether to count at all (the planner's
cost and row estimate, `counting_is_cheap`) or, with a text filter, whether to walk the
list or read every match by the trigram index. That EXPLAIN was one of the three
statements of every uncached page 1 (page, EXPLAIN, count): a database round trip and a
planning pass (~0.3 ms) whose answer changes only when ANALYZE changes the statistics or
the table grows. So a plan is reused for the same query and arguments for TTL_S seconds,
per process (each app's Paginator holds its own). Only the two figures the decisions
read are kept (CountPlan), not EXPLAIN's whole plan (5-7 KB as Python objects).

Totals stay honest: the count itself is never reused, so an exact total is exact at the
moment of the request; only the choice between counting and estimating, and an estimate
itself (flagged total_is_estimate), may be up to TTL_S old.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple

from service.db.database import Session
from service.db.registry import Query

# Long enough to spare nearly every EXPLAIN under load (a key asked for 100 times a second
# is planned once in 1,000 requests), short beside how often ANALYZE changes statistics.
TTL_S = 10.0
# Distinct (query, filters) kept: each entry is two numbers and its key; the oldest used goes first.
MAX_ENTRIES = 1024


def _rows_estimate(plan: dict) -> int:
    """The planner's row estimate for the scan under the count query's LIMIT."""
    node = plan
    while node.get("Node Type") != "Limit" and node.get("Plans"):
        node = node["Plans"][0]
    inner = node.get("Plans", [node])[0]
    return int(inner.get("Plan Rows", 0))


class CountPlan(NamedTuple):
    """What the planner says of a capped count: the rows it expects under the cap's LIMIT
    and the plan's total cost."""
    rows: int
    cost: float

    @classmethod
    def of(cls, plan: dict) -> CountPlan:
        """From EXPLAIN (FORMAT JSON)'s top plan node."""
        return cls(_rows_estimate(plan), plan.get("Total Cost", 0.0))


class CountPlans:
    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._plans: OrderedDict[tuple, tuple[float, CountPlan]] = OrderedDict()

    async def get(self, session: Session, query: Query, filters: Mapping[str, Any], cap: int) -> CountPlan:
        """The plan of `query` (a capped count) for these filters and cap: EXPLAIN's, at
        most ttl_s seconds old."""
        key = (query.name, cap, *sorted(filters.items()))
        try:
            found = self._plans.get(key)
        except TypeError:       # a filter value that is a list or the like: not kept
            return CountPlan.of(await session.explain(query, **filters, cap=cap))
        now = time.monotonic()
        if found is not None and now - found[0] < self.ttl_s:
            self._plans.move_to_end(key)
            return found[1]
        plan = CountPlan.of(await session.explain(query, **filters, cap=cap))
        self._plans[key] = (now, plan)
        self._plans.move_to_end(key)
        while len(self._plans) > self.max_entries:
            self._plans.popitem(last=False)
        return plan

    def __len__(self) -> int:
        return len(self._plans)
