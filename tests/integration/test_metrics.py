"""GET /metrics: valid Prometheus text, counters that move with requests, route
templates (never raw paths) as labels, a pid on every sample, METRICS_TOKEN."""
from __future__ import annotations

import os
import re
from pathlib import Path

from aiohttp import web
from conftest import Api
from prometheus_client.parser import text_string_to_metric_families

from service import keys
from service.app import create_app
from service.db.registry import Query
from service.http.responses import json_response
from service.observability.stats import Histogram, Timings

ROOT = Path(__file__).resolve().parents[2]
SLEEP = Query("tests/sleep", "SELECT pg_sleep($1::float8)", params=("seconds",))


async def scrape(api: Api, **kwargs) -> dict[str, list]:
    """{sample name: [(labels, value), ...]} of one scrape."""
    resp = await api.client.get("/metrics", **kwargs)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return sum(v for found, v in samples.get(name, []) if all(found.get(k) == str(x) for k, x in labels.items()))


async def test_metrics_parse_and_move_with_requests(api):
    user = await api.user()
    client = await api.client_of(user)
    before = await scrape(api)
    for _ in range(3):
        await api.get(f"/api/clients/{client['id']}", user)
    await api.get("/api/clients/not-a-uuid", user, expect=404)
    after = await scrape(api)
    route = "/api/clients/{id}"
    assert value(after, "cj_http_requests_total", route=route, status=200) == \
        value(before, "cj_http_requests_total", route=route, status=200) + 3
    assert value(after, "cj_http_requests_total", route=route, status=404) >= 1
    assert value(after, "cj_http_request_duration_seconds_count", route=route) >= 4
    assert value(after, "cj_http_request_duration_seconds_bucket", route=route, le="+Inf") >= 4
    # labels carry templates, never ids or other user input
    labels = {labels.get("route") for labels, _ in after["cj_http_requests_total"]}
    assert client["id"] not in str(labels) and "not-a-uuid" not in str(labels)
    # pool and query metrics
    assert value(after, "cj_db_pool_max_connections") == 10
    assert value(after, "cj_db_pool_acquires_total") > value(before, "cj_db_pool_acquires_total")
    assert value(after, "cj_db_pool_acquire_wait_seconds_count") == value(after, "cj_db_pool_acquires_total")
    assert value(after, "cj_db_queries_total", query="clients/insert") == 1
    assert value(after, "cj_db_query_duration_seconds_count", query="clients/insert") == 1
    assert value(after, "cj_db_pool_hold_seconds_count") == value(after, "cj_db_pool_releases_total")
    for name in ("cj_db_pool_connections", "cj_db_pool_idle_connections", "cj_db_pool_in_use_connections",
                 "cj_db_pool_waiters", "cj_db_pool_acquire_timeouts_total", "cj_db_pool_pre_ping_failures_total",
                 "cj_db_pool_recycles_total", "cj_db_pool_acquire_errors_total", "cj_db_pool_connection_faults_total",
                 "cj_db_pool_read_only_found_total", "cj_cache_hits_total", "cj_cache_misses_total", "cj_cache_entries",
                 "cj_cache_max_entries"):
        assert name in after, name
    assert value(after, "cj_cache_coherent") == 1
    # the standard process and Python families, on this process
    assert value(after, "process_cpu_seconds_total") > 0
    assert value(after, "process_resident_memory_bytes") > 1_000_000
    assert after["python_info"][0][0]["implementation"] == "CPython"
    assert "python_gc_collections_total" in after
    # every sample says which worker answered
    pid = str(os.getpid())
    assert all(labels.get("pid") == pid for series in after.values() for labels, _ in series)
    assert after["cj_worker_info"][0][0]["pid"] == pid


_UNIT_SUFFIXES = ("_seconds", "_bytes")
_WRONG_UNITS = {"ms", "milliseconds", "us", "microseconds", "minutes", "hours", "kb", "mb", "kilobytes", "megabytes",
                "percent"}


def _readme_metric_names() -> set[str]:
    """Every name the README's metrics table lists, `{a,b}` alternatives expanded."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| metric | type | labels |"):]
    table = table[:table.index("\n\n")]
    names: set[str] = set()
    for cell in re.findall(r"`([a-z_{},]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:])):
        pending = [cell]
        while pending:
            name = pending.pop()
            found = re.search(r"\{([^}]*)\}", name)
            if found is None:
                names.add(name)
            else:
                pending += [name[:found.start()] + part + name[found.end():] for part in found.group(1).split(",")]
    return names


async def test_metric_names_follow_prometheus_conventions_and_the_readme_table(api):
    user = await api.user()
    await api.get("/api/clients", user)
    resp = await api.client.get("/metrics")
    families = list(text_string_to_metric_families(await resp.text()))
    listed = _readme_metric_names()
    wrong = []
    for family in families:
        # the parser drops a counter's _total from family.name; the samples carry the exposed name
        exposed = family.name + "_total" if family.type == "counter" else family.name
        if family.type == "info":
            exposed = family.name + "_info"
        if exposed not in listed:
            wrong.append(f"{exposed}: not in the README's metrics table")
        if _WRONG_UNITS & set(exposed.split("_")):
            wrong.append(f"{exposed}: not in base units")
        if family.type == "histogram" and not family.name.endswith(_UNIT_SUFFIXES):
            wrong.append(f"{exposed}: a histogram names its unit")
        if family.type == "gauge" and exposed.endswith("_total"):
            wrong.append(f"{exposed}: _total is for counters")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", exposed):
            wrong.append(f"{exposed}: not snake_case")
    exported = {f.name + ("_total" if f.type == "counter" else "_info" if f.type == "info" else "") for f in families}
    wrong += [f"{name}: listed in the README but not exported" for name in sorted(listed - exported)]
    assert not wrong, "\n".join(wrong)


async def test_slow_queries_are_counted_by_name(aiohttp_client, database_url, settings):
    async def sleep_route(request: web.Request) -> web.Response:
        await request.app[keys.DB].fetchval(SLEEP, seconds=0.06)
        return json_response(request, {})
    app = create_app(settings.replace(slow_query_threshold_ms=50))
    app.router.add_get("/test/sleep", sleep_route)
    api = Api(await aiohttp_client(app), database_url)
    await api.call("GET", "/test/sleep", expect=200)
    await api.call("GET", "/test/sleep", expect=200)
    samples = await scrape(api)
    assert value(samples, "cj_db_slow_queries_total", query="tests/sleep") == 2
    assert value(samples, "cj_db_query_duration_seconds_bucket", query="tests/sleep", le="0.05") == 0
    # pg_sleep(0.06) takes at least 60 ms: above the 0.05 bucket whatever the load
    assert value(samples, "cj_db_query_duration_seconds_bucket", query="tests/sleep", le="+Inf") == 2
    assert value(samples, "cj_http_requests_total", route="/test/sleep", status=200) == 2


async def test_metrics_token(make_api, settings):
    api = await make_api(settings.replace(metrics_token="s3cret-token"))
    resp = await api.client.get("/metrics")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    resp = await api.client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    await scrape(api, headers={"Authorization": "Bearer s3cret-token"})


async def test_each_app_has_its_own_registry(make_api, settings):
    first = await make_api(settings)
    second = await make_api(settings)
    for _ in range(3):
        await first.get("/api/health")
    one, two = await scrape(first), await scrape(second)
    assert value(one, "cj_http_requests_total", route="/api/health") == 3
    assert value(two, "cj_http_requests_total", route="/api/health") == 0


def test_histogram_buckets_are_cumulative():
    histogram = Histogram((0.1, 1.0))
    for sample in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(sample)
    assert histogram.buckets() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert histogram.count == 4 and abs(histogram.sum - 3.65) < 1e-9


def test_timings_p95_uses_a_bounded_window():
    timings = Timings(window=100)
    for sample in range(1, 201):            # 1..200; the window keeps 101..200
        timings.add(float(sample))
    assert timings.count == 200 and timings.min == 1.0 and timings.max == 200.0
    assert timings.percentile(0.95) == 195.0
    assert timings.avg == 100.5


async def test_the_cache_byte_budget_is_in_metrics_and_health(make_api, settings):
    """Issue 15 point 1: CACHE_MAX_BYTES and the bytes held, in /metrics and /api/health/cache."""
    api = await make_api(settings.replace(cache_max_bytes=1_000_000))
    user, admin = await api.user(), await api.user(admin=True)
    await api.get("/api/clients", user)
    samples = await scrape(api)
    assert value(samples, "cj_cache_max_bytes") == 1_000_000
    used = value(samples, "cj_cache_used_bytes")
    assert 0 < used <= 1_000_000
    report = await api.get("/api/health/cache", admin)
    assert report["max_bytes"] == 1_000_000 and 0 < report["bytes"] <= 1_000_000
