"""The machine a benchmark ran on, for the JSON and the table's heading."""
from __future__ import annotations

import os
import platform
import sys


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine_info(generator: str, postgres_version: str) -> dict:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "postgresql": postgres_version,
        "load_generator": generator,
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
    }


def one_line(machine: dict) -> str:
    return (f"{machine['nproc']} cores ({machine['cpu_model']}), {machine['memory_gb']} GB RAM, "
            f"{machine['os']}, Python {machine['python']}, PostgreSQL {machine['postgresql']}, "
            f"load generator {machine['load_generator']}")


def cpu_counters() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat (0, 0 where unavailable)."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)     # idle + iowait
    total = sum(values[:8])                                       # guest time is already in user
    return total - idle, total


def busy_percent(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """How busy the whole machine was between two cpu_counters() readings, in % of all cores."""
    total = after[1] - before[1]
    return None if total <= 0 else round(100.0 * (after[0] - before[0]) / total, 1)
