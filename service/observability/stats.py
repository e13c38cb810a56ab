"""Measurements kept in memory: running timings with a recent-window percentile, and
Prometheus-style histograms. The pool and the profiler record into these on hot
paths (one event loop per process: no locks); metrics.py exposes them.
"""
from __future__ import annotations

import math
from bisect import bisect_left

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)
HOLD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Timings:
    """count, total, min, max since start, and p95 over the last `window` values (bounded memory)."""

    __slots__ = ("count", "total", "min", "max", "_window", "_next")

    def __init__(self, window: int = 512) -> None:
        self.count = 0
        self.total = 0.0
        self.min = 0.0
        self.max = 0.0
        self._window: list[float] = [0.0] * window
        self._next = 0

    def add(self, value: float) -> None:
        if self.count == 0 or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.count += 1
        self.total += value
        window = self._window
        window[self._next] = value
        self._next = (self._next + 1) % len(window)

    @property
    def avg(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, fraction: float) -> float:
        """The value below which `fraction` of the recent window lies (nearest rank)."""
        size = min(self.count, len(self._window))
        if size == 0:
            return 0.0
        recent = sorted(self._window[:size])
        rank = math.ceil(fraction * size - 1e-9)  # nearest rank; the epsilon absorbs float noise
        return recent[min(max(rank, 1), size) - 1]

    def summary(self, digits: int = 3) -> dict[str, float | int]:
        return {"count": self.count, "avg": round(self.avg, digits), "p95": round(self.percentile(0.95), digits),
                "max": round(self.max, digits)}


class Histogram:
    """Prometheus-style buckets: counts per upper bound, plus sum and count."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative (le, count) pairs, +Inf last, as HistogramMetricFamily wants them."""
        out, running = [], 0
        for bound, count in zip((*map(repr, map(float, self.bounds)), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out
