"""tenants_ab's report: the means per side, B / A from them, and failed calls called out."""
from __future__ import annotations

from pathlib import Path

from service.bench.load import LoadResult
from service.bench.tenants_ab import Measured, Side, failures, report

SIDES = {"A": Side("A", "feecfa4", Path("/tmp/a"), "feecfa4"), "B": Side("B", ".", Path("/tmp/b"), "abc1234")}


def _run(side: str, rps: float, *, errors: int = 0, non_2xx: int = 0, rejected: int = 0,
         hit_rate: float | None = 80.0, cpu: float | None = 400.0) -> Measured:
    """A run of 10 s at `rps`, p50 5 ms, `cpu` µs of server CPU per request."""
    requests = round(rps * 10)
    load = LoadResult(requests, 10.0, 5.0, 9.0, errors, non_2xx,
                      server_cpu_s=None if cpu is None else cpu * requests / 1e6)
    return Measured(side, load, hit_rate, rejected)


def test_the_ratio_is_of_the_means_of_each_side_in_the_order_run():
    runs = [_run("B", 2000), _run("A", 1000), _run("B", 3000), _run("A", 1500)]
    text = report(SIDES, runs, ["B", "A", "B", "A"])
    assert "mean req/s: A 1,250, B 2,500" in text
    assert "B / A: 2.00x" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split(" | ")[1] for row in rows] == ["B", "A", "B", "A"]
    assert "| 2 | A | feecfa4 (feecfa4) | 1,000 | 5.00 | 80.0 % | 400 | 0 | 0 | 0 |" in rows
    assert "FAILED" not in text


def test_missing_figures_read_n_a_and_failed_calls_are_counted_and_called_out():
    runs = [_run("A", 900, hit_rate=None, cpu=None), _run("B", 1800, errors=2, non_2xx=3, rejected=1)]
    assert failures(runs) == 6
    text = report(SIDES, runs, ["A", "B"])
    assert "| 1 | A | feecfa4 (feecfa4) | 900 | 5.00 | n/a | n/a | 0 | 0 | 0 |" in text
    assert "FAILED CALLS: 6" in text
