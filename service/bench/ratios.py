"""The headline: ratios against ceilings measured in the same run, each beside its target.

Targets are reported, never asserted: a figure that misses says so in `status`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from service.bench.scenarios import Row, SweepPoint

MILLION = 1_000_000
RSS_LIMIT_MB = 150.0


@dataclass(frozen=True)
class Ratio:
    name: str
    value: float | None
    shown: str                  # the value as printed
    target: str
    status: str                 # met | missed | n/a
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _row(rows: Sequence[Row], label: str) -> Row | None:
    for row in rows:
        if row.label == label and row.runs:
            return row
    return None


def _status(value: float | None, ok) -> str:
    return "n/a" if value is None else ("met" if ok(value) else "missed")


def _quotient(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom


def _mean(rows, label, attribute):
    row = _row(rows, label)
    return None if row is None else row.mean(attribute)


def headline(rows: Sequence[Row], sweep: Sequence[SweepPoint], posts: int, seed_seconds: float,
             peak_rss_mb: dict[str, dict[int, float]]) -> list[Ratio]:
    full_size = posts >= MILLION

    def sized(status: str) -> str:
        """Targets stated for 1M posts are only indicative on a smaller data set."""
        return status if full_size or status == "n/a" else f"{status} at {posts:,} (target is for 1M)"

    ratios = []

    value = _quotient(_mean(rows, "posts-page1-cached", "rps"), _mean(rows, "ceiling-static", "rps"))
    ratios.append(Ratio("cached page 1 / ceiling-static (req/s)", value, _x(value), ">= 0.70",
                        _status(value, lambda v: v >= 0.70), _by_cpu(rows, "posts-page1-cached", "ceiling-static")))

    value = _quotient(_mean(rows, "posts-page1-nocache", "rps"), _mean(rows, "ceiling-sql", "rps"))
    ratios.append(Ratio("uncached page 1 / ceiling-sql (req/s)", value, _x(value), ">= 0.80",
                        _status(value, lambda v: v >= 0.80), _by_cpu(rows, "posts-page1-nocache", "ceiling-sql")))

    value = _quotient(_mean(rows, "posts-deep-cursor", "p50_ms"), _mean(rows, "posts-page1-nocache", "p50_ms"))
    ratios.append(Ratio("deep cursor (90%) / page 1 p50 latency, under load", value, _x(value), "<= 1.5 at 1M posts",
                        sized(_status(value, lambda v: v <= 1.5))))

    by_label = {p.label: p for p in sweep}
    if "cursor 90%" in by_label and "page 1" in by_label:
        value = _quotient(by_label["cursor 90%"].result.p50_ms, by_label["page 1"].result.p50_ms)
        ratios.append(Ratio("deep cursor (90%) / page 1 p50 latency, 1 connection", value, _x(value),
                            "<= 1.5 at 1M posts", sized(_status(value, lambda v: v <= 1.5))))

    on, off = _mean(rows, "profiling-overhead (profiling on)", "rps"), _mean(rows, "profiling-overhead (profiling off)", "rps")
    value = None if on is None or not off else (off - on) / off * 100
    noise = max((_spread(r) for r in rows if r.scenario == "profiling-overhead" and r.runs), default=None)
    status = _status(value, lambda v: v <= 1.0)
    if value is not None and noise is not None and abs(value) < noise and noise > 1.0:
        status = "unresolved: within noise"
    ratios.append(Ratio("profiling overhead (req/s lost, uncached page 1)", value,
                        "—" if value is None else f"{value:+.1f} %", "<= 1 %", status,
                        "A/B/A/B interleaved" + ("" if noise is None else
                                                 f"; runs of one side differ by up to {noise:.0f} %, so a "
                                                 "difference below that is noise")))

    value = _quotient(_mean(rows, "workers (workers 2)", "rps"), _mean(rows, "workers (workers 1)", "rps"))
    busy = _mean(rows, "workers (workers 1)", "machine_busy_pct")
    ratios.append(Ratio("workers 2 / 1 (req/s, cached page 1)", value, _x(value), ">= 1.6",
                        _status(value, lambda v: v >= 1.6),
                        "" if busy is None else f"all cores already {busy:.0f}% busy with 1 worker"))

    many, one = _row(rows, "tenants (50 tenants)"), _row(rows, "tenants (1 tenant)")
    if many is not None and one is not None:
        rates_many = [r for r in many.hit_rates if r is not None]
        rates_one = [r for r in one.hit_rates if r is not None]
        value = (sum(rates_one) / len(rates_one) - sum(rates_many) / len(rates_many)
                 if rates_many and rates_one else None)
        ratios.append(Ratio("tenants: hit rate, 1 tenant minus 50 tenants (points)", value,
                            "—" if value is None else f"{value:+.1f}", "within 5 points",
                            _status(value, lambda v: abs(v) <= 5),
                            "the lone tenant runs at the per-tenant rate of the 50"))

    per_million = seed_seconds * MILLION / posts if posts else None
    ratios.append(Ratio(f"seed {posts:,} posts (COPY + ANALYZE)", seed_seconds, f"{seed_seconds:.1f} s",
                        "<= 60 s for 1M posts", sized(_status(per_million, lambda v: v <= 60)),
                        "" if full_size or per_million is None else f"~{per_million:.0f} s per 1M at this rate"))

    services = {label: peaks for label, peaks in peak_rss_mb.items() if not label.startswith("ceiling")}
    worst = max((mb for peaks in services.values() for mb in peaks.values()), default=None)
    ratios.append(Ratio("peak RSS of any service process", worst, "—" if worst is None else f"{worst:.0f} MB",
                        f"<= {RSS_LIMIT_MB:.0f} MB per worker", _status(worst, lambda v: v <= RSS_LIMIT_MB),
                        "; ".join(f"{label}: " + ", ".join(f"{mb:.0f}" for mb in peaks.values())
                                  for label, peaks in services.items())))
    return ratios


def _spread(row: Row) -> float:
    """Run-to-run spread of one configuration, in % of its mean: the noise floor of an A/B."""
    values = [r.rps for r in row.runs]
    mean = sum(values) / len(values)
    return 0.0 if not mean else (max(values) - min(values)) / mean * 100


def _by_cpu(rows: Sequence[Row], service: str, ceiling: str) -> str:
    """The same ratio from server CPU per request, which other jobs on the machine disturb less."""
    value = _quotient(_mean(rows, ceiling, "cpu_us_per_request"), _mean(rows, service, "cpu_us_per_request"))
    return "" if value is None else f"by server CPU per request: {value:.2f}x"


def _x(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.2f}x"
