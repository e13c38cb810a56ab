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
    method: str = ""                 # reads of GET/HEAD may go to a replica (db/routing.py)
    db_ms: float = 0.0
    queries: int = 0
    cache: str | None = None
    user_id: str | None = None       # set by the auth guard: per-user limits and logs
    # an idempotent read run a second time after losing its database connection
    retried: bool = False
    # Replica routing (db/routing.py): where this request's reads go, decided once ("primary"
    # or "replica"), and the time (monotonic) up to which the replica's answers are known to
    # include every acknowledged commit; the cache stores a replica answer only if nothing it
    # covers was invalidated after that time.
    read_target: str | None = None
    replica_covered: float | None = None
    # query name -> executions in this request (N+1 detection)
    query_counts: dict[str, int] = field(default_factory=dict)
    # query names this request runs once per page by design (a streamed download reads its
    # result a chunk at a time, so memory holds one chunk): many runs of them are no N+1
    paged_queries: frozenset[str] = frozenset()


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)

# What runs outside any request (jobs/worker.py): ("job:<kind>", job id) inside a job, ("job-worker",
# worker id) in the worker's claim and heartbeat loops. The pool's leak reports and the slow-query
# log name it where a request gives its route template and request id.
current_task: ContextVar[tuple[str, str] | None] = ContextVar("current_task", default=None)


def holder(ctx: RequestContext | None) -> tuple[str | None, str | None]:
    """(endpoint, request id) of whoever runs now: the request, else the background task, else (None, None)."""
    if ctx is not None:
        return ctx.endpoint, ctx.request_id
    return current_task.get() or (None, None)
