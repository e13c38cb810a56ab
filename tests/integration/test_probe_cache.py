"""Probes of the response cache and its invalidation feed under failure,
against a real PostgreSQL."""
from __future__ import annotations

import os
import re


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


async def test_evictions_forced_by_the_byte_budget_advise_raising_the_byte_budget(make_api, settings):
    """The cache's advice named CACHE_MAX_SIZE for every tier with many evictions, also when
    CACHE_MAX_BYTES forced them: here 5 of 100 entries are held, and raising CACHE_MAX_SIZE
    would change nothing."""
    api = await make_api(settings.replace(cache_max_bytes=65_536))
    user, admin = await api.user(), await api.user(admin=True)
    project = await api.project_of(user)
    await api.posts_of(user, project["id"], 40, content="word " * 800)
    for page in range(1, 21):                              # 20 distinct pages of ~8 KB each
        await api.get(f"/api/posts?page_size=2&page={page}", user)
    report = await api.get("/api/health/cache?tier=short", admin)
    short = report["tiers"]["short"]
    assert short["evictions"] > 10 and short["size"] < short["maxsize"] // 4, short
    advice = [a["message"] for a in report["recommendations"] if a.get("tier") == "short"]
    assert any("CACHE_MAX_BYTES" in message for message in advice), advice
    assert not any("CACHE_MAX_SIZE" in message for message in advice), advice
    metrics = await (await api.client.get("/metrics")).text()
    exported = re.search(r'^cj_cache_byte_evictions_total\{[^}]*tier="short"[^}]*\} (\S+)$', metrics, re.M)
    assert exported and float(exported.group(1)) >= short["byte_evictions"] > 10, short
