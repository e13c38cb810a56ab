"""Prometheus metrics of the job worker: queue depth by kind and status (a snapshot the
worker refreshes at each heartbeat), jobs finished by kind and outcome, pickup latency
(from due to claimed) and run time."""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from service.observability.metrics import PREFIX, _pid_label
from service.observability.stats import Histogram

PICKUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class JobMetrics:
    def __init__(self) -> None:
        self.finished_total: dict[tuple[str, str], int] = {}
        self.pickup: dict[str, Histogram] = {}
        self.duration: dict[str, Histogram] = {}
        self.depth: dict[tuple[str, str], int] = {}

    def picked_up(self, kind: str, seconds: float) -> None:
        histogram = self.pickup.get(kind) or self.pickup.setdefault(kind, Histogram(PICKUP_BUCKETS))
        histogram.observe(max(0.0, seconds))

    def finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.finished_total[(kind, outcome)] = self.finished_total.get((kind, outcome), 0) + 1
        histogram = self.duration.get(kind) or self.duration.setdefault(kind, Histogram(RUN_BUCKETS))
        histogram.observe(seconds)

    def set_depth(self, rows) -> None:
        self.depth = {(row["kind"], row["status"]): row["jobs"] for row in rows}


class JobCollector:
    def __init__(self, metrics: JobMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator:
        pid = _pid_label()
        depth = GaugeMetricFamily(f"{PREFIX}_jobs", "jobs by kind and status (refreshed at each worker heartbeat)",
                                  labels=["kind", "status", "pid"])
        for (kind, status), count in sorted(self.metrics.depth.items()):
            depth.add_metric([kind, status, pid], count)
        yield depth
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
