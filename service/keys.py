"""Typed application keys: everything a handler reaches through the app, in one place."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from service.auth.user import User
    from service.cache.feed import InvalidationFeed
    from service.cache.response_cache import ResponseCache
    from service.context import RequestContext
    from service.db.database import Database
    from service.db.migrations import Migration
    from service.http.body_budget import BodyBudget
    from service.http.middleware import AfterWrite, FailedWrite, RequestFinished
    from service.http.unsent_answers import StreamSlots
    from service.jobs.metrics import JobMetrics
    from service.jobs.worker import Worker
    from service.observability.metrics import Metrics
    from service.observability.profiling import Profiler
    from service.pagination.cursors import CursorCodec
    from service.pagination.paginator import Paginator
    from service.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
CODEC: web.AppKey[CursorCodec] = web.AppKey("codec")
PAGINATOR: web.AppKey[Paginator] = web.AppKey("paginator")
CACHE: web.AppKey[ResponseCache] = web.AppKey("cache")
# The migration files this code ships, read once at start-up (readiness compares with them).
MIGRATIONS: web.AppKey[list[Migration]] = web.AppKey("migrations")
CACHE_FEED: web.AppKey[InvalidationFeed] = web.AppKey("cache_feed")
PROFILER: web.AppKey[Profiler] = web.AppKey("profiler")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Called when each request ends (metrics, N+1 detection); see web.request_middleware.
REQUEST_FINISHED: web.AppKey[list[RequestFinished]] = web.AppKey("request_finished")
# Awaited after each successful write, before the response (cache invalidation).
AFTER_WRITE: web.AppKey[list[AfterWrite]] = web.AppKey("after_write")
# Called after a write that answered 503, before the response: (request, the error). Its
# outcome may be unknown (a connection lost at COMMIT): the replica router's fence.
FAILED_WRITE: web.AppKey[list[FailedWrite]] = web.AppKey("failed_write")

# Background jobs (issue 10): this process's worker (None with JOBS_WORKER=false) and its metrics.
JOB_WORKER: web.AppKey[Worker | None] = web.AppKey("job_worker")
JOB_METRICS: web.AppKey[JobMetrics] = web.AppKey("job_metrics")
# Bytes of request bodies being read, per caller and in all (http/body_budget.py)
BODY_BUDGET: web.AppKey[BodyBudget] = web.AppKey("body_budget")
# Streamed answers (job results) being sent, per caller and in all (http/unsent_answers.py)
STREAM_SLOTS: web.AppKey[StreamSlots] = web.AppKey("stream_slots")

# Per-request storage
REQUEST_CTX: web.RequestKey[RequestContext] = web.RequestKey("ctx")
USER: web.RequestKey[User] = web.RequestKey("user")
# The body bytes read_json counted in BODY_BUDGET, [(caller, bytes)]: given back by the
# middleware once the request is answered, not when the body is parsed (http/body.py).
BODY_HELD: web.RequestKey[list[tuple[str, int]]] = web.RequestKey("body_held")
