"""`python -m service.bench.tenants_ab` runs end to end: both sides seeded, served and
measured in the order asked, each run on its own revision's code (the tool refuses a side
seeded by any other `service` package, and this test sets PYTHONPATH to this checkout).

Proves that it ran and reported every run with no failed call; its figures (req/s, hit
rates) are never asserted: a benchmark on a shared machine is not a test of speed.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _head() -> str | None:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WORKERS", "PORT")}
    env["VAR_DIR"] = str(tmp_path / "var")
    # On purpose: side A must still run its own code, not this checkout's, even when the
    # environment points every Python at this checkout and keeps the working directory off
    # sys.path (the tool checks which `service` package seeded each side, and fails otherwise).
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONSAFEPATH"] = "1"
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    return subprocess.run([sys.executable, "-m", "service.bench.tenants_ab", *args, "--out", str(tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_both_revisions_are_seeded_served_and_measured_in_the_order_asked(tmp_path):
    head = _head()
    if head is None:
        pytest.skip("not a git checkout: tenants_ab compares git revisions")
    done = _run(tmp_path, "--before", "HEAD", "--order", "A B A", "--tenants", "3", "--posts-each", "30",
                "--owner-posts", "200", "--duration", "1", "--warmup", "0")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    # A is HEAD's files unpacked apart from this checkout; B is this checkout.
    assert re.search(rf"^A: HEAD \({head}\) in (?!{re.escape(str(ROOT))}\b)", done.stdout, re.M), done.stdout
    assert re.search(rf"^B: \. \({head}(\+changes)?\) in {re.escape(str(ROOT))}$", done.stdout, re.M), done.stdout
    rows = re.findall(r"^\| (\d) \| ([AB]) \| (.+?) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) % \| ([\d,]+) \| (\d+) \| (\d+) "
                      r"\| (\d+) \|$", done.stdout, re.M)
    assert [(run, side) for run, side, *_ in rows] == [("1", "A"), ("2", "B"), ("3", "A")], done.stdout
    for _, _, _, rps, _, hit_rate, cpu, errors, non_2xx, rejected in rows:
        assert int(rps.replace(",", "")) > 0
        assert int(cpu.replace(",", "")) > 0
        assert 0.0 <= float(hit_rate) <= 100.0
        assert (errors, non_2xx, rejected) == ("0", "0", "0"), done.stdout
    assert re.search(r"^B / A: \d+\.\d\dx$", done.stdout, re.M), done.stdout


def test_an_order_of_anything_but_a_and_b_is_refused(tmp_path):
    done = _run(tmp_path, "--before", "HEAD", "--order", "A C")
    assert done.returncode == 2
    assert "--order is a list of A and B" in done.stderr


def test_a_revision_that_does_not_exist_is_refused_before_anything_runs(tmp_path):
    if _head() is None:
        pytest.skip("not a git checkout: tenants_ab compares git revisions")
    done = _run(tmp_path, "--before", "no-such-revision-anywhere")
    assert done.returncode == 2
    assert "no such git revision: no-such-revision-anywhere" in done.stderr
    assert "Traceback" not in done.stderr
