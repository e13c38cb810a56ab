"""The read matrix (issue 16): every posts filter and search, as the admin and as an owner,
page 1 uncached, against a served database, next to the cursor page of the same run.

For each request: p50 at one connection (goal under 10 ms), req/s at 32 connections
(goal at least half the unfiltered cursor page's, which does not count), and the
owner's p50 against the admin's (goal at most 1.5x). Run it against a service with
CACHE_ENABLED=false on a seeded database, e.g. at a million posts:

    python run.py seed --clients 10 --projects 100 --posts 1000000 --owner-email owner@example.com
    CACHE_ENABLED=false python run.py serve &
    python -m service.bench.read_matrix --admin admin@example.com:adminpass123 \\
        --owner owner@example.com:ownerpass123 --out read-matrix.json

The owner must own data (the seed's --owner-email); the admin sees every owner's rows.
It prints a Markdown table (one row per request, admin and owner side by side) and the
count of requests that meet every goal; --out writes the figures as JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from urllib.parse import quote

from service.bench import api_client
from service.bench.load_wrk import WrkGenerator

P50_GOAL_MS = 10.0
CURSOR_SHARE_GOAL = 0.5
OWNER_SLOWDOWN_GOAL = 1.5
# The requests, by name: query strings of GET /api/posts ({project} and {run}: ids of the owner's).
FILTERS: dict[str, str] = {
    "no filter": "",
    "project_id": "project_id={project}",
    "run_id": "run_id={run}",
    "status=approved": "status=approved",
    "status=flagged": "status=flagged",
    "platform=linkedin": "platform=linkedin",
    "status+platform": "status=approved&platform=linkedin",
    "has_cta=false": "has_cta=false",
    "needs_review=true": "needs_review=true",
    "needs_review=false": "needs_review=false",
    "approved+needs_review (none)": "status=approved&needs_review=true",
    "flagged+no review": "status=flagged&needs_review=false",
    "template_name=how": "template_name=how",
    "min_word_count=100": "min_word_count=100",
    "max_word_count=10 (rare)": "max_word_count=10",
    "min_readability=90": "min_readability=90",
    "max_readability=30": "max_readability=30",
    "project+status": "project_id={project}&status=flagged",
    "project+needs_review": "project_id={project}&needs_review=true",
    "project+max_word_count=10": "project_id={project}&max_word_count=10",
    "search common (growth)": "search=growth",
    "search rare (post 777)": "search=" + quote("post 777"),
    "search absent (zzyzx)": "search=zzyzx",
    "project+search common": "project_id={project}&search=growth",
    "project+search rare": "project_id={project}&search=" + quote("post 777"),
    "project+search absent": "project_id={project}&search=zzyzx",
}


@dataclass
class Measured:
    name: str
    role: str
    path: str
    p50_ms: float
    rps: float
    errors: int


def _path(query: str, ids: dict[str, str]) -> str:
    query = query.format(**ids)
    return "/api/posts" + ("?" + query if query else "")


def _settle(base_url: str, token: str, limit_s: float = 120.0) -> None:
    """Wait until the service answers the health check and a cheap list at once again:
    requests wrk gave up on (its 5 s timeout) still run in the database and would
    slow the next measurement down."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        started = time.monotonic()
        api_client.call(base_url, "GET", "/api/posts?page_size=1&order=asc", token)
        if time.monotonic() - started < 0.2:
            return
        time.sleep(0.5)


def _measure(wrk: WrkGenerator, base_url: str, path: str, token: str, seconds: float) -> tuple[float, float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    one = wrk.run(base_url, [path], connections=1, seconds=seconds, headers=headers)
    _settle(base_url, token)
    many = wrk.run(base_url, [path], connections=32, seconds=seconds, headers=headers)
    _settle(base_url, token)
    # A request that never answered within wrk's timeout has no latency: count it as an error.
    unanswered = 0 if one.requests else 1
    return one.p50_ms, many.rps, unanswered + one.errors + one.non_2xx + many.errors + many.non_2xx


def run(base_url: str, admin: tuple[str, str], owner: tuple[str, str], seconds: float = 3.0,
        only: Sequence[str] | None = None, out=sys.stdout) -> dict:
    tokens = {"admin": api_client.login(base_url, *admin), "owner": api_client.login(base_url, *owner)}
    project = api_client.call(base_url, "GET", "/api/projects?page_size=1", tokens["owner"])["items"]
    run_ = api_client.call(base_url, "GET", "/api/runs?page_size=1", tokens["owner"])["items"]
    if not project or not run_:
        raise SystemExit("the owner has no project or run: seed with --owner-email <the owner>")
    ids = {"project": project[0]["id"], "run": run_[0]["id"]}
    wrk = WrkGenerator(threads=2)
    first = api_client.call(base_url, "GET", "/api/posts", tokens["admin"])
    cursor_path = "/api/posts?cursor=" + quote(first["metadata"]["next_cursor"])
    names = [name for name in FILTERS if only is None or name in only]
    cursor_rps = []
    results: list[Measured] = []
    for index, name in enumerate(names):
        if index % 8 == 0:      # the baseline, again every few requests: the machine's load drifts
            _, rps, _ = _measure(wrk, base_url, cursor_path, tokens["admin"], seconds)
            cursor_rps.append(rps)
        for role in ("admin", "owner"):
            path = _path(FILTERS[name], ids)
            p50, rps, errors = _measure(wrk, base_url, path, tokens[role], seconds)
            results.append(Measured(name, role, path, p50, rps, errors))
            print(f"  {name:<28} {role:<5} p50 {p50:8.2f} ms  {rps:8.0f} req/s", file=sys.stderr)
    baseline = statistics.median(cursor_rps)
    return report(results, baseline, out)


def report(results: list[Measured], cursor_rps: float, out=sys.stdout) -> dict:
    by_name: dict[str, dict[str, Measured]] = {}
    for m in results:
        by_name.setdefault(m.name, {})[m.role] = m
    print(f"\ncursor page (unfiltered, 32 connections): {cursor_rps:,.0f} req/s; goals: p50 < {P50_GOAL_MS:g} ms, "
          f">= {CURSOR_SHARE_GOAL:g}x the cursor page, owner <= {OWNER_SLOWDOWN_GOAL:g}x the admin\n", file=out)
    print("| request | admin p50 ms | admin req/s | owner p50 ms | owner req/s | owner/admin | verdict |", file=out)
    print("|---|---:|---:|---:|---:|---:|---|", file=out)
    met = 0
    rows = []
    for name, roles in by_name.items():
        admin, owner = roles["admin"], roles["owner"]
        slowdown = owner.p50_ms / admin.p50_ms if admin.p50_ms else float("inf")
        missed = [f"{m.role} p50" for m in (admin, owner) if m.p50_ms >= P50_GOAL_MS]
        missed += [f"{m.role} req/s" for m in (admin, owner) if m.rps < CURSOR_SHARE_GOAL * cursor_rps]
        missed += ["owner/admin"] if slowdown > OWNER_SLOWDOWN_GOAL else []
        missed += [f"{m.role} errors" for m in (admin, owner) if m.errors]
        met += not missed
        verdict = "met" if not missed else "missed: " + ", ".join(missed)
        print(f"| {name} | {admin.p50_ms:.2f} | {admin.rps:,.0f} | {owner.p50_ms:.2f} | {owner.rps:,.0f} | "
              f"{slowdown:.2f} | {verdict} |", file=out)
        rows.append({"name": name, "admin": asdict(admin), "owner": asdict(owner), "owner_slowdown": slowdown,
                     "missed": missed})
    print(f"\n{met} of {len(by_name)} requests meet every goal", file=out)
    return {"cursor_rps": cursor_rps, "requests": rows, "met": met, "total": len(by_name)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.bench.read_matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--admin", required=True, help="EMAIL:PASSWORD of an admin")
    parser.add_argument("--owner", required=True, help="EMAIL:PASSWORD of a user who owns data")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement (default 3)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(FILTERS), help="only these requests")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    result = run(args.base_url, tuple(args.admin.split(":", 1)), tuple(args.owner.split(":", 1)), args.seconds,
                 args.only)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
