"""The options of one benchmark run."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchConfig:
    posts: int = 100_000
    duration: float = 10.0          # seconds per measurement
    warmup: float = 2.0             # seconds of load before each scenario's measurements
    repeats: int = 2
    connections: int = 16
    scenarios: tuple[str, ...] = ()
    out: Path = Path("bench-results")
    generator: str = "auto"         # auto | wrk | builtin
    quick: bool = False
    db_pool_size: int = 10          # per service process; three pools at most are open at once
    db_max_overflow: int = 10

    def as_dict(self) -> dict:
        return {"posts": self.posts, "duration_s": self.duration, "warmup_s": self.warmup,
                "repeats": self.repeats, "connections": self.connections, "scenarios": list(self.scenarios),
                "quick": self.quick, "db_pool_size": self.db_pool_size, "db_max_overflow": self.db_max_overflow}


QUICK = {"posts": 2_000, "duration": 1.0, "warmup": 0.5}
