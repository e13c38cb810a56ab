"""Prometheus metrics of the job queue and of this process's worker.

The queue's gauges are read from the jobs table when GET /metrics is scraped (at most
once a second per process, refresh_queue), by every serving process whether it runs a worker or not,
so a deployment whose workers run as `run.py worker` (no /metrics of their own) still
shows its queue: depth by kind and status, the oldest due queued job's wait, jobs failed
for good in the last 15 minutes. The worker's own figures are this process's: attempts
finished by kind and outcome, pickup latency (from due to claimed) and run time."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from service.observability.metrics import PREFIX, _pid_label
from service.observability.stats import Histogram
from service.store import jobs

log = logging.getLogger(__name__)

# The queue is read at most this often per process, however often (or concurrently) it
# is scraped. The server bounds the read (sql/jobs/queue_read_limits.sql: a held lock
# 250 ms, a statement 800 ms); REFRESH_TIMEOUT_S is the backstop for a database that does
# not answer at all. A failed read is not retried for BACKOFF_S, so scrapes stay quick,
# and the queue's samples are left out until a read succeeds: no stale figure is shown.
REFRESH_EVERY_S = 1.0
REFRESH_TIMEOUT_S = 2.0
BACKOFF_S = 10.0

PICKUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class JobMetrics:
    def __init__(self) -> None:
        self.finished_total: dict[tuple[str, str], int] = {}
        self.pickup: dict[str, Histogram] = {}
        self.duration: dict[str, Histogram] = {}
        self.depth: dict[tuple[str, str], int] = {}
        self.oldest_due_s: float | None = None      # None: not read yet, or the last read failed
        self.recent_failures: int | None = None
        self._next_read = 0.0                        # monotonic: not before this

    def picked_up(self, kind: str, seconds: float) -> None:
        histogram = self.pickup.get(kind) or self.pickup.setdefault(kind, Histogram(PICKUP_BUCKETS))
        histogram.observe(max(0.0, seconds))

    def finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.finished_total[(kind, outcome)] = self.finished_total.get((kind, outcome), 0) + 1
        histogram = self.duration.get(kind) or self.duration.setdefault(kind, Histogram(RUN_BUCKETS))
        histogram.observe(seconds)

    def set_depth(self, rows) -> None:
        self.depth = {(row["kind"], row["status"]): row["jobs"] for row in rows}

    async def refresh_queue(self, db) -> None:
        """Read the queue's gauges from the jobs table, unless read within REFRESH_EVERY_S
        (or a read failed within BACKOFF_S). Never raises: /metrics must answer.

        The alerting gauges first (two index probes), then the depth by kind and status (a
        scan of the jobs kept for JOBS_RETENTION_HOURS): a depth too slow to read costs
        the depth, not the alerts."""
        if time.monotonic() < self._next_read:
            return
        self._next_read = time.monotonic() + REFRESH_EVERY_S     # a concurrent scrape does not read again
        gauges_read = False
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_S), db.transaction() as session:
                await jobs.limit_queue_read(session)
                gauges = await jobs.queue_gauges(session)
                # The gauge reads 0 while no job is due (the query says NULL).
                self.oldest_due_s, self.recent_failures = gauges["oldest_due_s"] or 0.0, gauges["recent_failures"]
                gauges_read = True
                self.set_depth(await jobs.depth(session))
        except Exception as exc:        # the database is down or slow: the scrape goes on without it
            log.warning("job queue %s not read (%r); left out of /metrics for %.0f s",
                        "depth" if gauges_read else "metrics", exc, BACKOFF_S)
            self.depth = {}
            if not gauges_read:
                self.oldest_due_s = self.recent_failures = None
            self._next_read = time.monotonic() + BACKOFF_S


class JobCollector:
    def __init__(self, metrics: JobMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator:
        pid = _pid_label()
        depth = GaugeMetricFamily(f"{PREFIX}_jobs", "jobs in the table by kind and status (read at scrape time)",
                                  labels=["kind", "status", "pid"])
        for (kind, status), count in sorted(self.metrics.depth.items()):
            depth.add_metric([kind, status, pid], count)
        yield depth
        for name, value, text in (
                ("oldest_due_seconds", self.metrics.oldest_due_s,
                 "how long the oldest due queued job has waited for a worker (0: none due)"),
                ("recent_failures", self.metrics.recent_failures, "jobs that failed for good in the last 15 minutes")):
            gauge = GaugeMetricFamily(f"{PREFIX}_jobs_{name}", text, labels=["pid"])
            if value is not None:       # None: not read yet, or the last read failed (no sample, no stale one)
                gauge.add_metric([pid], value)
            yield gauge
        finished = CounterMetricFamily(f"{PREFIX}_jobs_finished", "job attempts ended by this process",
                                       labels=["kind", "outcome", "pid"])
        for (kind, outcome), count in sorted(self.metrics.finished_total.items()):
            finished.add_metric([kind, outcome, pid], count)
        yield finished
        for name, source, text in (("pickup_latency_seconds", self.metrics.pickup, "from due to claimed"),
                                   ("run_seconds", self.metrics.duration, "attempt run time")):
            family = HistogramMetricFamily(f"{PREFIX}_jobs_{name}", text, labels=["kind", "pid"])
            for kind, histogram in sorted(source.items()):
                family.add_metric([kind, pid], histogram.buckets(), histogram.sum)
            yield family
