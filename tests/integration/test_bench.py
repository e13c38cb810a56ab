"""`run.py bench --quick` runs end to end, so the benchmark cannot rot.

Proves only that it ran and produced well-formed output: a row for every
scenario, the JSON and the SVG. Its figures are never asserted: a benchmark on a
shared machine is not a test of speed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from service.bench.scenarios import SCENARIOS
from service.topology.pgbouncer import PgBouncerMissing, pgbouncer_binary

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_writes_a_row_per_scenario_json_and_svg(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WORKERS", "PORT")}
    env["VAR_DIR"] = str(tmp_path / "var")          # the bench must not need the repo's ./var
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "run.py", "bench", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    rows = {row["scenario"] for row in results["scenarios"]}
    assert rows == set(SCENARIOS) - {"depth-sweep"}, rows
    assert len(results["depth_sweep"]) >= 6
    for row in results["scenarios"]:
        assert row["skipped"] or len(row["runs"]) == results["config"]["repeats"], row
    # The tenants scenario ran both sides and measured a hit rate on each.
    tenants = [row for row in results["scenarios"] if row["scenario"] == "tenants"]
    assert sorted(row["variant"] for row in tenants) == ["1 tenant", "50 tenants"], tenants
    assert all(not row["skipped"] and row["hit_rates_pct"] and None not in row["hit_rates_pct"] for row in tenants)
    # The topology scenario: three pairs of instances (PgBouncer, direct, direct unprepared) on two paths.
    topology = [row for row in results["scenarios"] if row["scenario"] == "topology"]
    try:
        pgbouncer_binary()
    except PgBouncerMissing:
        assert [row["skipped"] for row in topology] and all(row["skipped"] for row in topology), topology
    else:
        assert len(topology) == 6 and not any(row["skipped"] for row in topology), topology
    assert results["machine"]["nproc"] >= 1 and results["machine"]["load_generator"]
    assert {r["name"] for r in results["headline"]}
    assert "| scenario |" in done.stdout and "| headline |" in done.stdout

    svg = ElementTree.parse(out / "depth.svg").getroot()
    assert svg.tag.endswith("svg")
