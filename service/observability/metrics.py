"""Measurements and their Prometheus exposition (GET /metrics).

Hot paths record into plain Python objects: one event loop per process means no
locks are needed, and an observation costs a few attribute updates. A scrape turns
them into Prometheus families through custom collectors on a CollectorRegistry of
the app's own (tests build many apps in one process; the global default registry
would mix them). Every sample carries a `pid` label: with `serve --workers N` each
scrape reaches one worker, and the label keeps one worker's counters from being
read as another's (see README "Metrics").

To export another source (the cache tiers), register a collector on
`Metrics.registry`, e.g. `TierStatsCollector(cache.stats)`.

Names follow Prometheus conventions: base units in the name (`_seconds`, `_bytes`),
`_total` on counters, and gauges named after what they count (`_connections`,
`_entries`). The standard `process_*` and `python_*` families of prometheus_client
are included, with the same `pid` label as ours.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from service import __version__
from service.observability.stats import HTTP_BUCKETS, QUERY_BUCKETS, Histogram

if TYPE_CHECKING:
    from service.context import RequestContext
    from service.db.pool import Pool
    from service.db.registry import Query
    from service.db.routing import ReplicaRouter
    from service.settings import Settings

PREFIX = "cj"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """Requests by route template, method and status; latency by route template and method."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], Histogram] = {}

    def observe(self, ctx: RequestContext, method: str, status: int, elapsed_s: float) -> None:
        # ctx.endpoint is the route template ("/api/posts/{id}") or "unmatched": never a raw path.
        if method not in _METHODS:
            method = "OTHER"          # a client-chosen verb must not mint new series
        key = (ctx.endpoint, method, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        latency_key = (ctx.endpoint, method)
        histogram = self.latency.get(latency_key)
        if histogram is None:
            histogram = self.latency[latency_key] = Histogram(HTTP_BUCKETS)
        histogram.observe(elapsed_s)


class QueryMetrics:
    """Executions, duration and slow executions by query name (the SQL file)."""

    def __init__(self, slow_threshold_ms: float) -> None:
        self.slow_threshold_ms = slow_threshold_ms
        self.durations: dict[str, Histogram] = {}
        self.slow: dict[str, int] = {}

    def observe(self, query: Query, elapsed_ms: float, rows: int) -> None:
        histogram = self.durations.get(query.name)
        if histogram is None:
            histogram = self.durations[query.name] = Histogram(QUERY_BUCKETS)
        histogram.observe(elapsed_ms / 1000.0)
        if elapsed_ms >= self.slow_threshold_ms:
            self.slow[query.name] = self.slow.get(query.name, 0) + 1


def _pid_label() -> str:
    return str(os.getpid())


class HttpCollector:
    def __init__(self, http: HttpMetrics) -> None:
        self.http = http

    def collect(self) -> Iterator:
        pid = _pid_label()
        requests = CounterMetricFamily(f"{PREFIX}_http_requests", "HTTP requests answered, by route template "
                                       "and status", labels=["route", "method", "status", "pid"])
        for (route, method, status), count in sorted(self.http.requests.items()):
            requests.add_metric([route, method, status, pid], count)
        yield requests
        latency = HistogramMetricFamily(f"{PREFIX}_http_request_duration_seconds", "HTTP request latency",
                                        labels=["route", "method", "pid"])
        for (route, method), histogram in sorted(self.http.latency.items()):
            latency.add_metric([route, method, pid], histogram.buckets(), histogram.sum)
        yield latency


class QueryCollector:
    def __init__(self, queries: QueryMetrics) -> None:
        self.queries = queries

    def collect(self) -> Iterator:
        pid = _pid_label()
        total = CounterMetricFamily(f"{PREFIX}_db_queries", "SQL executions by query name",
                                    labels=["query", "pid"])
        duration = HistogramMetricFamily(f"{PREFIX}_db_query_duration_seconds", "SQL execution time by query name",
                                         labels=["query", "pid"])
        slow = CounterMetricFamily(f"{PREFIX}_db_slow_queries", "SQL executions at or above "
                                   "SLOW_QUERY_THRESHOLD_MS, by query name", labels=["query", "pid"])
        for name, histogram in sorted(self.queries.durations.items()):
            total.add_metric([name, pid], histogram.count)
            duration.add_metric([name, pid], histogram.buckets(), histogram.sum)
            slow.add_metric([name, pid], self.queries.slow.get(name, 0))
        yield from (total, duration, slow)


# pool.state() key -> (gauge name after cj_db_pool_, help text)
_POOL_GAUGES = {
    "size": ("connections", "connections open (idle + in use)"),
    "idle": ("idle_connections", "open connections not checked out"),
    "in_use": ("in_use_connections", "connections checked out"),
    "max": ("max_connections", "the most connections the pool may open (DB_POOL_SIZE + DB_MAX_OVERFLOW)"),
    "waiting": ("waiters", "acquires waiting for a connection"),
}

# pool counter -> help text; names become cj_db_pool_<name>_total
_POOL_COUNTERS = {
    "connects": "connections opened",
    "disconnects": "connections closed or lost",
    "acquires": "connections handed out",
    "releases": "connections given back",
    "acquire_timeouts": "acquires that gave up after DB_POOL_TIMEOUT (answered 503)",
    "acquire_errors": "acquires that failed opening a connection (the server refused or did not answer)",
    "connection_faults": "connections dropped after failing under a statement",
    "read_only_found": "times a session was found read-only (a refused write, a health check)",
    "pre_ping_failures": "idle connections found dead by the pre-ping and replaced",
    "recycles": "connections closed for being older than DB_POOL_RECYCLE",
    "leaks_suspected": "connections held longer than DB_LEAK_THRESHOLD_S",
}


class PoolCollector:
    """Reads the pool when scraped; `pool` is set once the app has opened it."""

    def __init__(self) -> None:
        self.pool: Pool | None = None

    def collect(self) -> Iterator:
        pool = self.pool
        if pool is None or not pool.is_open:
            return
        pid = _pid_label()
        state = pool.state()
        for key, (name, help_text) in _POOL_GAUGES.items():
            gauge = GaugeMetricFamily(f"{PREFIX}_db_pool_{name}", f"database pool: {help_text}", labels=["pid"])
            gauge.add_metric([pid], state[key])
            yield gauge
        events = pool.events
        counts = events.as_dict()
        for name, help_text in _POOL_COUNTERS.items():
            counter = CounterMetricFamily(f"{PREFIX}_db_pool_{name}", f"database pool: {help_text}", labels=["pid"])
            counter.add_metric([pid], counts[name])
            yield counter
        wait = HistogramMetricFamily(f"{PREFIX}_db_pool_acquire_wait_seconds", "time to get a pool connection",
                                     labels=["pid"])
        wait.add_metric([pid], events.wait_histogram.buckets(), events.wait_histogram.sum)
        yield wait
        hold = HistogramMetricFamily(f"{PREFIX}_db_pool_hold_seconds", "how long a checkout kept its connection "
                                     "(measured at release)", labels=["pid"])
        hold.add_metric([pid], events.hold_histogram.buckets(), events.hold_histogram.sum)
        yield hold


class ReplicaCollector:
    """The read replica (db/routing.py), when one is configured: state, lag, reads routed."""

    def __init__(self) -> None:
        self.router: ReplicaRouter | None = None

    def collect(self) -> Iterator:
        router = self.router
        if router is None:
            return
        pid = _pid_label()
        available = GaugeMetricFamily(f"{PREFIX}_db_replica_available", "1 while the read replica is up and "
                                      "within DB_REPLICA_MAX_LAG_S (reads may go to it), else 0", labels=["pid"])
        available.add_metric([pid], 1.0 if router.available else 0.0)
        yield available
        lag = GaugeMetricFamily(f"{PREFIX}_db_replica_lag_seconds", "age of the oldest primary WAL position the "
                                "replica has not replayed (NaN while it cannot be measured)", labels=["pid"])
        lag.add_metric([pid], float("nan") if router.lag_s is None else router.lag_s)
        yield lag
        reads = CounterMetricFamily(f"{PREFIX}_db_replica_reads", "list and detail reads of GET requests by the "
                                    "server that answered them and why", labels=["target", "reason", "pid"])
        for (target, reason), count in sorted(router.reads.items()):
            reads.add_metric([target, reason, pid], count)
        yield reads


class TierStatsCollector:
    """Counters and gauges by cache tier from `stats()` -> {tier: {"hits": n, "misses": n, ...}}.

    Counters: hits, misses, sets, evictions (byte_evictions: those the byte budget forced),
    invalidations. Gauges: size, maxsize and bytes,
    exported as `entries`, `max_entries` and `bytes` (what they count). Missing keys are
    skipped, so a stats function may report a subset.
    """

    COUNTERS = ("hits", "misses", "sets", "evictions", "byte_evictions", "invalidations")
    GAUGES = {"size": "entries", "maxsize": "max_entries", "bytes": "bytes"}

    def __init__(self, stats: Callable[[], Mapping[str, Mapping[str, float]]], prefix: str = f"{PREFIX}_cache") -> None:
        self.stats = stats
        self.prefix = prefix

    def collect(self) -> Iterator:
        pid = _pid_label()
        by_tier = self.stats()
        for key in (*self.COUNTERS, *self.GAUGES):
            if key in self.COUNTERS:
                family = CounterMetricFamily(f"{self.prefix}_{key}", f"cache {key} by tier", labels=["tier", "pid"])
            else:
                family = GaugeMetricFamily(f"{self.prefix}_{self.GAUGES[key]}", f"cache {self.GAUGES[key]} by tier",
                                           labels=["tier", "pid"])
            for tier, values in sorted(by_tier.items()):
                if key in values:
                    family.add_metric([tier, pid], values[key])
            yield family


class CacheBudgetCollector:
    """The cache's byte budget: bytes held by every tier together, and CACHE_MAX_BYTES."""

    def __init__(self, budget: Callable[[], tuple[int, int]], prefix: str = f"{PREFIX}_cache") -> None:
        self.budget = budget
        self.prefix = prefix

    def collect(self) -> Iterator:
        used, limit = self.budget()
        pid = _pid_label()
        for name, value, text in (("used_bytes", used, "bytes held by all tiers"),
                                  ("max_bytes", limit, "CACHE_MAX_BYTES")):
            family = GaugeMetricFamily(f"{self.prefix}_{name}", f"cache {text}", labels=["pid"])
            family.add_metric([pid], value)
            yield family


class CoherenceCollector:
    """cj_cache_coherent: 1 while the cache may serve (its invalidation feed is up), 0 while it is bypassed."""

    def __init__(self, coherent: Callable[[], bool]) -> None:
        self.coherent = coherent

    def collect(self) -> Iterator:
        gauge = GaugeMetricFamily(f"{PREFIX}_cache_coherent", "1 while the invalidation feed is connected (or the "
                                  "cache is disabled); 0 while the cache is emptied and bypassed", labels=["pid"])
        gauge.add_metric([_pid_label()], 1.0 if self.coherent() else 0.0)
        yield gauge


class _Collector(Protocol):
    def collect(self) -> Iterable: ...


class PidLabelled:
    """A prometheus_client collector whose samples get our `pid` label (process_*, python_*)."""

    def __init__(self, collector: _Collector) -> None:
        self.collector = collector

    def collect(self) -> Iterator:
        pid = _pid_label()
        for family in self.collector.collect():
            family.samples = [sample._replace(labels={**sample.labels, "pid": pid}) for sample in family.samples]
            yield family


def standard_collectors() -> list[PidLabelled]:
    """process_* (CPU seconds, resident and virtual memory bytes, open fds, start time), python_info, python_gc_*.

    Built detached from prometheus_client's global registry (GCCollector insists on
    registering somewhere: a scratch registry nobody reads).
    """
    return [PidLabelled(ProcessCollector(registry=None)), PidLabelled(PlatformCollector(registry=None)),
            PidLabelled(GCCollector(registry=CollectorRegistry(auto_describe=False)))]


class WorkerCollector:
    def collect(self) -> Iterable:
        info = InfoMetricFamily(f"{PREFIX}_worker", "the process that answered this scrape")
        info.add_metric([], {"pid": _pid_label(), "version": __version__})
        yield info


class Metrics:
    """The app's measurements and its own CollectorRegistry."""

    def __init__(self, settings: Settings) -> None:
        self.http = HttpMetrics()
        self.queries = QueryMetrics(settings.slow_query_threshold_ms)
        self.pool = PoolCollector()
        self.replica = ReplicaCollector()
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in (WorkerCollector(), HttpCollector(self.http), QueryCollector(self.queries), self.pool,
                          self.replica,
                          *standard_collectors()):
            self.registry.register(collector)

    def watch_pool(self, pool: Pool) -> None:
        self.pool.pool = pool

    def watch_replica(self, router: ReplicaRouter | None) -> None:
        self.replica.router = router

    def render(self) -> bytes:
        return generate_latest(self.registry)
