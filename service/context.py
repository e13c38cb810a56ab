"""Per-request context, carried by a ContextVar so the database layer can see it.

The request middleware sets one RequestContext per request; the query runner adds
database time and counts to it (Server-Timing, N+1 detection), the cache marks
hit or miss on it.
"""
from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestContext:
    request_id: str
    endpoint: str = ""
    db_ms: float = 0.0
    queries: int = 0
    cache: str | None = None
    user_id: object = None      # the authenticated caller's id (auth/guards.py), for the access log
    # query name -> executions in this request (N+1 detection)
    query_counts: dict[str, int] = field(default_factory=dict)


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)
