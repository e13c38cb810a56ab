"""Probes of the response cache and its invalidation feed under failure (helper probe-cache),
against a real PostgreSQL."""
from __future__ import annotations

import os


async def test_cache_health_answers_name_the_worker_whose_cache_they_describe(api):
    """Each worker (WORKERS=N) has its own cache, so with two workers the status page's
    2-second poll of /api/health/cache alternated between two sets of counters, and a clear
    or a stats reset reached one worker, with nothing in the answer saying which. Every other
    health answer names its worker (README "Multiple workers")."""
    admin = await api.user(admin=True)
    report = await api.get("/api/health/cache", admin)
    cleared = await api.post("/api/health/cache/clear", admin, expect=200)
    reset = await api.post("/api/health/cache/reset-stats", admin, expect=200)
    for answer in (report, cleared, reset):
        assert answer.get("worker") == {"pid": os.getpid()}, answer
