"""A liveness probe for attack tests: GET one path one request at a time from a thread of
its own (its own connection and interpreter time slices) while an attack runs, recording
each answer's latency, so a test can hold a bound on what OTHER callers suffer."""
from __future__ import annotations

import http.client
import statistics
import threading
import time


class Probe:
    """GET `path` one request at a time from a thread of its own (own connection, own
    interpreter time slices), recording each answer's latency in ms."""

    def __init__(self, port: int, path: str = "/api/health/live", interval: float = 0.005) -> None:
        self.port, self.path, self.interval = port, path, interval
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            started = time.perf_counter()
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.errors.append(str(resp.status))
            except Exception as exc:
                self.errors.append(repr(exc))
                conn.close()
                conn = None
            self.latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(self.interval)
        if conn is not None:
            conn.close()

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(90)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    def summary(self) -> str:
        ordered = sorted(self.latencies) or [0.0]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (f"{len(ordered)} answers, p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, "
                f"max {ordered[-1]:.1f} ms, errors {self.errors[:3]}")
