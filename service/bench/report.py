"""The benchmark's output: Markdown tables on stdout, results.json and depth.svg in --out."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from service.bench.machine import one_line
from service.bench.ratios import Ratio
from service.bench.scenarios import Row, SweepPoint


def _figures(row: Row, attribute: str, fmt: str) -> str:
    values = [getattr(r, attribute) for r in row.runs]
    return " / ".join("—" if v is None else format(v, fmt) for v in values)


def scenario_table(rows: Sequence[Row]) -> str:
    lines = ["| scenario | answered by | req/s | p50 ms | p99 ms | server CPU µs/req | machine busy % | errors | non-2xx | notes |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        if row.skipped:
            lines.append(f"| {row.label} | {row.target} | skipped | | | | | | | {row.skipped} |")
            continue
        lines.append(f"| {row.label} | {row.target} | {_figures(row, 'rps', ',.0f')} | {_figures(row, 'p50_ms', '.2f')} "
                     f"| {_figures(row, 'p99_ms', '.2f')} | {_figures(row, 'cpu_us_per_request', ',.0f')} "
                     f"| {_figures(row, 'machine_busy_pct', '.0f')} "
                     f"| {sum(r.errors for r in row.runs)} "
                     f"| {sum(r.non_2xx for r in row.runs)} | {row.note} |")
    return "\n".join(lines)


def ratio_table(ratios: Sequence[Ratio]) -> str:
    lines = ["| headline | value | target | status | detail |", "|---|---:|---|---|---|"]
    lines += [f"| {r.name} | {r.shown} | {r.target} | {r.status} | {r.detail} |" for r in ratios]
    return "\n".join(lines)


def sweep_table(points: Sequence[SweepPoint]) -> str:
    lines = ["| depth | strategy | rows | p50 ms | p99 ms | req/s (1 connection) |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {p.label} | {p.strategy} | {p.rows}{' (past the end)' if p.rows == 0 else ''} "
              f"| {p.result.p50_ms:.2f} | {p.result.p99_ms:.2f} | {p.result.rps:,.0f} |" for p in points]
    return "\n".join(lines)


def markdown(results: dict, rows: Sequence[Row], ratios: Sequence[Ratio], sweep: Sequence[SweepPoint]) -> str:
    config, seed = results["config"], results["seed"]
    parts = [
        f"## Benchmark: {config['posts']:,} posts, {config['connections']} connections, "
        f"{config['duration_s']:g} s x {config['repeats']} per scenario (both runs shown)",
        "",
        f"Machine: {one_line(results['machine'])}.",
        *(["", "Note: the built-in load generator (no wrk, or --generator builtin) is a Python client that "
               "saturates before the ceilings do, which pulls every ratio towards 1. Use wrk for figures worth "
               "quoting.", ""]
          if results["machine"]["load_generator"].startswith("built-in") else []),
        f"Seed: {seed['posts']:,} posts in {seed['seed_seconds']:.1f} s (COPY) + {seed['analyze_seconds']:.1f} s "
        "(VACUUM ANALYZE).",
        "",
        ratio_table(ratios), "", scenario_table(rows),
    ]
    if sweep:
        parts += ["", "p50 latency by depth (uncached service, one connection):", "", sweep_table(sweep)]
    if results.get("mixed_check"):
        parts += ["", "Mixed writes verified: " + json.dumps(results["mixed_check"])]
    return "\n".join(parts) + "\n"


def write_json(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
