"""What a load generator measures, and the choice between wrk and the built-in one."""
from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class LoadResult:
    requests: int          # completed responses (any status)
    seconds: float         # measured wall time
    p50_ms: float
    p99_ms: float
    errors: int            # connect/read/write errors and timeouts: no response at all
    non_2xx: int           # responses outside 2xx (wrk: outside 2xx/3xx)
    server_cpu_s: float | None = None   # CPU time the answering processes used meanwhile
    machine_busy_pct: float | None = None   # all cores, every process: is the machine itself the limit?

    @property
    def cpu_us_per_request(self) -> float | None:
        """Server CPU per request: steadier than req/s when other jobs share the cores."""
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s / self.requests * 1e6

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        cpu = self.cpu_us_per_request
        return {**asdict(self), "rps": round(self.rps, 1), "cpu_us_per_request": None if cpu is None else round(cpu, 1)}


class LoadGenerator(Protocol):
    name: str

    def run(self, base_url: str, paths: Sequence[str], *, connections: int, seconds: float,
            headers: dict[str, str]) -> LoadResult:
        """GET the paths (round robin) with a fixed number of connections for `seconds`."""


def choose_generator(wanted: str = "auto") -> LoadGenerator:
    """wrk when installed (or asked for), else the built-in aiohttp generator."""
    from service.bench.load_builtin import BuiltinGenerator
    from service.bench.load_wrk import WrkGenerator
    if wanted == "builtin":
        return BuiltinGenerator()
    path = shutil.which("wrk")
    if path:
        return WrkGenerator(path)
    if wanted == "wrk":
        raise RuntimeError("--generator wrk: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    return BuiltinGenerator()


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values), max(1, math.ceil(fraction * len(sorted_values)))) - 1
    return sorted_values[rank]
