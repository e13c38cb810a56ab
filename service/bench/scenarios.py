"""The scenarios of `run.py bench`, run in an order that keeps each figure next to its ceiling.

Services are started lazily by label with the environment each scenario needs,
and stopped after their last use so that no more than three pools are open at
once (the embedded server allows 100 connections). Every load is bounded by the
configured duration; a scenario that cannot run becomes a skipped row with its
reason rather than failing the whole benchmark.
"""
from __future__ import annotations

import dataclasses
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from service.bench import api_client
from service.bench.config import BenchConfig
from service.bench.database import SeededDatabase
from service.bench.fixtures import CURSOR_DEPTHS, FILTERED, PAGE1, PROJECTS, SEARCHES, SWEEP_PAGES, Fixtures, gather
from service.bench.load import LoadGenerator, LoadResult
from service.bench.load_builtin import BuiltinGenerator
from service.bench.load_wrk import WrkGenerator
from service.bench.machine import busy_percent, cpu_counters
from service.bench.mixed import MixedCalls, run_mixed
from service.bench.processes import ChildProcess, Fleet, ProcessFailed
from service.bench.tenants import CACHE_SIZE, POSTS_EACH, TENANTS, TenantCalls, gather_tenants, run_tenants


def say(message: str) -> None:
    """Progress on stderr; the tables go to stdout."""
    print(message, file=sys.stderr, flush=True)


SCENARIOS = ("ceiling-static", "posts-page1-cached", "ceiling-sql", "posts-page1-nocache", "posts-filtered",
             "posts-owner-filtered", "posts-search", "projects-page1", "post-by-id", "posts-deep-cursor", "posts-deep-page", "depth-sweep",
             "profiling-overhead", "workers", "mixed", "tenants", "topology")

CACHED = {"CACHE_ENABLED": "true", "PROFILING_ENABLED": "true"}
NOCACHE = {"CACHE_ENABLED": "false", "PROFILING_ENABLED": "true"}
NOCACHE_NOPROFILING = {"CACHE_ENABLED": "false", "PROFILING_ENABLED": "false"}


def describe(env: dict[str, str], workers: int = 1) -> str:
    cache = "on" if env["CACHE_ENABLED"] == "true" else "off"
    profiling = "on" if env["PROFILING_ENABLED"] == "true" else "off"
    return f"service: cache {cache}, profiling {profiling}, {workers} worker{'s' if workers > 1 else ''}"


@dataclass
class Row:
    scenario: str
    variant: str                 # the A/B side ("profiling on", "workers 2"), else ""
    target: str                  # what answered
    path: str
    connections: int
    runs: list[LoadResult] = field(default_factory=list)
    note: str = ""
    skipped: str | None = None
    hit_rates: list[float | None] = field(default_factory=list)   # % of reads from the cache, per run (tenants)

    @property
    def label(self) -> str:
        return f"{self.scenario} ({self.variant})" if self.variant else self.scenario

    def mean(self, attribute: str) -> float | None:
        if not self.runs:
            return None
        values = [getattr(r, attribute) for r in self.runs]
        values = [v for v in values if v is not None]
        return statistics.fmean(values) if values else None

    def as_dict(self) -> dict:
        return {"scenario": self.scenario, "variant": self.variant, "label": self.label, "target": self.target,
                "path": self.path, "connections": self.connections, "runs": [r.as_dict() for r in self.runs],
                "mean_rps": _round(self.mean("rps")), "mean_p50_ms": _round(self.mean("p50_ms"), 3),
                "mean_p99_ms": _round(self.mean("p99_ms"), 3),
                "mean_cpu_us_per_request": _round(self.mean("cpu_us_per_request")), "note": self.note, "skipped": self.skipped,
                "hit_rates_pct": [_round(r) for r in self.hit_rates]}


@dataclass
class SweepPoint:
    label: str
    strategy: str
    rows: int                    # items on the page (0: past the end of the list)
    path: str
    result: LoadResult

    def as_dict(self) -> dict:
        return {"label": self.label, "strategy": self.strategy, "rows": self.rows, "path": self.path,
                **self.result.as_dict()}


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


class Runner:
    def __init__(self, config: BenchConfig, fleet: Fleet, seeded: SeededDatabase, generator: LoadGenerator) -> None:
        self.config = config
        self.fleet = fleet
        self.seeded = seeded
        self.generator = generator
        self.rows: list[Row] = []
        self.sweep: list[SweepPoint] = []
        self.mixed_check: dict | None = None
        self.worker_pids: dict[str, int] = {}
        self.fixtures: Fixtures | None = None

    def wanted(self, name: str) -> bool:
        return name in self.config.scenarios

    # --- measuring -------------------------------------------------------------------------------

    def _run(self, child: ChildProcess, paths: Sequence[str], connections: int, seconds: float,
             generator: LoadGenerator | None = None, headers: dict[str, str] | None = None) -> LoadResult:
        before, machine = child.cpu_seconds(), cpu_counters()
        result = (generator or self.generator).run(child.base_url, paths, connections=connections, seconds=seconds,
                                                   headers=headers or self.fixtures.auth)
        return dataclasses.replace(result, server_cpu_s=child.cpu_seconds() - before,
                                   machine_busy_pct=busy_percent(machine, cpu_counters()))

    def _warm(self, child: ChildProcess, paths: Sequence[str], connections: int,
              headers: dict[str, str] | None = None) -> None:
        if self.config.warmup <= 0:
            return
        # wrk counts whole seconds; a sub-second warm-up (--quick) uses the built-in generator.
        warmer = self.generator if self.config.warmup >= 1 else BuiltinGenerator()
        self._run(child, paths, connections, self.config.warmup, warmer, headers)

    def measure(self, scenario: str, child: ChildProcess, paths: Sequence[str], target: str, *,
                variant: str = "", note: str = "", headers: dict[str, str] | None = None) -> Row:
        """`headers`: another caller's Authorization (default the admin's)."""
        row = Row(scenario, variant, target, paths[0], self.config.connections, note=note)
        self._warm(child, paths, row.connections, headers)
        for _ in range(self.config.repeats):
            row.runs.append(self._run(child, paths, row.connections, self.config.duration, headers=headers))
        self._print(row)
        return row

    def measure_ab(self, scenario: str, sides: Sequence[tuple[str, Callable[[], ChildProcess], str]],
                   paths: Sequence[str]) -> list[Row]:
        """Interleaved A/B/A/B: both sides see the same drift of a noisy machine."""
        rows, children = [], []
        for variant, start, target in sides:
            row = Row(scenario, variant, target, paths[0], self.config.connections)
            try:
                children.append(start())
            except ProcessFailed as exc:
                row.skipped = f"could not start: {_first_error_line(str(exc))}"
                children.append(None)
            rows.append(row)
        live = [(row, child) for row, child in zip(rows, children, strict=True) if child is not None]
        for row, child in live:
            self._warm(child, paths, row.connections)
        for _ in range(self.config.repeats):
            for row, child in live:
                row.runs.append(self._run(child, paths, row.connections, self.config.duration))
        for row in rows:
            self._print(row)
        return rows

    def _print(self, row: Row) -> None:
        if row.skipped:
            say(f"{row.label:<36} skipped: {row.skipped}")
            return
        figures = " / ".join(f"{r.rps:,.0f}" for r in row.runs)
        cpu = row.mean("cpu_us_per_request")
        say(f"{row.label:<36} req/s {figures}  p50 {row.mean('p50_ms') or 0:.2f} ms"
            + (f"  server CPU {cpu:,.0f} us/req" if cpu else ""))

    def attempt(self, scenario: str, body: Callable[[], None], target: str = "") -> None:
        """Run one scenario; a failure becomes a skipped row instead of ending the benchmark."""
        if not self.wanted(scenario):
            return
        try:
            body()
        except (ProcessFailed, api_client.ApiError, RuntimeError, OSError) as exc:
            reason = _first_error_line(str(exc))
            say(f"{scenario:<36} skipped: {reason}")
            self.rows.append(Row(scenario, "", target, "", self.config.connections, skipped=reason))

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> None:
        cached = self.fleet.service("cached", **CACHED)
        self.fixtures = gather(cached.base_url, self.seeded)
        self.attempt("ceiling-static", self.ceiling_static, "bare aiohttp, fixed bytes")
        self.attempt("posts-page1-cached", lambda: self.rows.append(
            self.measure("posts-page1-cached", cached, [PAGE1], describe(CACHED))), describe(CACHED))
        self.fleet.stop("ceiling-static")

        self.attempt("ceiling-sql", self.ceiling_sql, "bare aiohttp + asyncpg")
        for scenario, paths in self.nocache_paths():
            self.attempt(scenario, lambda s=scenario, p=paths: self.rows.append(
                self.measure(s, self.nocache(), p, describe(NOCACHE))), describe(NOCACHE))
            if scenario == "posts-filtered":
                self.attempt("posts-owner-filtered", self.owner_filtered, describe(NOCACHE))
                self.attempt("posts-search", self.searches, describe(NOCACHE))
        self.fleet.stop("ceiling-sql")
        self.attempt("depth-sweep", self.depth_sweep)
        self.attempt("profiling-overhead", self.profiling_overhead)
        self.fleet.stop("nocache")
        self.fleet.stop("nocache-noprofiling")
        self.attempt("workers", self.workers)
        self.fleet.stop("cached-2-workers")
        self.attempt("mixed", self.mixed, describe(CACHED))
        self.fleet.stop("cached")
        self.attempt("tenants", self.tenants, describe(CACHED))
        self.fleet.stop_all()
        # 2 instances through PgBouncer vs 2 direct (service/bench/topology.py): alone on the server.
        from service.bench.topology import topology
        self.attempt("topology", lambda: topology(self), "2 x run.py serve, cache off")
        self.fleet.stop_all()

    def nocache(self) -> ChildProcess:
        return self.fleet.service("nocache", **NOCACHE)

    def nocache_paths(self) -> list[tuple[str, list[str]]]:
        f = self.fixtures
        paths = [("posts-page1-nocache", [PAGE1]), ("posts-filtered", [FILTERED]), ("projects-page1", [PROJECTS]),
                 ("post-by-id", f.by_id_paths())]
        if 90 in f.cursors:
            paths.append(("posts-deep-cursor", [f.cursor_path(90)]))
        paths.append(("posts-deep-page", [f"{PAGE1}?page={f.deep_page}"]))
        return paths

    def owner_filtered(self) -> None:
        """posts-filtered as the (non-admin) user who owns the data: the owner-led indexes' case."""
        self.rows.append(self.measure("posts-owner-filtered", self.nocache(), [FILTERED], describe(NOCACHE),
                                      variant="owner", headers=self.fixtures.owner_auth))

    def searches(self) -> None:
        """Search page 1, uncached: a common, a rare and an absent word as the admin, and the
        common word as the owner and within one project."""
        child, f = self.nocache(), self.fixtures
        project = f"&project_id={f.project_ids[0]}" if f.project_ids else ""
        for variant, path, headers in [
            ("common, admin", SEARCHES["common"], None), ("rare, admin", SEARCHES["rare"], None),
            ("absent, admin", SEARCHES["absent"], None), ("common, owner", SEARCHES["common"], f.owner_auth),
            ("common, one project, owner", SEARCHES["common"] + project, f.owner_auth),
        ]:
            self.rows.append(self.measure("posts-search", child, [path], describe(NOCACHE), variant=variant,
                                          headers=headers))

    def ceiling_static(self) -> None:
        body_file = self.config.out / "page1-cached.json"
        body_file.write_bytes(self.fixtures.page1_body)
        child = self.fleet.ceiling("static", "--body", str(body_file))
        self.rows.append(self.measure("ceiling-static", child, [PAGE1], "bare aiohttp, fixed bytes",
                                      note=f"{len(self.fixtures.page1_body):,} bytes, as the cached page 1"))

    def ceiling_sql(self) -> None:
        child = self.fleet.ceiling("sql")
        # The ceiling must do the service's work: the same rows, in the same order.
        ids = [i["id"] for i in orjson.loads(api_client.get_bytes(child.base_url, PAGE1, self.fixtures.token))["items"]]
        note = ("same 20 rows as the service's page 1" if ids == self.fixtures.page1_ids
                else "WARNING: rows differ from the service's page 1")
        self.rows.append(self.measure("ceiling-sql", child, [PAGE1], "bare aiohttp + asyncpg", note=note))

    def depth_sweep(self) -> None:
        """p50 by depth at one connection: latency, not queueing, is what grows with depth."""
        f, child = self.fixtures, self.nocache()
        points = [(f"page {n}", f"{PAGE1}?page={n}") for n in SWEEP_PAGES]
        points += [(f"cursor {d}%", f.cursor_path(d)) for d in CURSOR_DEPTHS if d in f.cursors]
        seconds = max(1.0, self.config.duration / 3)
        for label, path in points:
            page = api_client.call(child.base_url, "GET", path, f.token)     # also a warm-up
            for _ in range(4):
                api_client.get_bytes(child.base_url, path, f.token)
            result = self._run(child, [path], 1, seconds)
            point = SweepPoint(label, page["metadata"]["strategy"], len(page["items"]), path, result)
            self.sweep.append(point)
            say(f"{'depth ' + label:<36} p50 {result.p50_ms:.2f} ms ({point.strategy}, {point.rows} rows)")

    def profiling_overhead(self) -> None:
        self.rows.extend(self.measure_ab("profiling-overhead", [
            ("profiling on", self.nocache, describe(NOCACHE)),
            ("profiling off", lambda: self.fleet.service("nocache-noprofiling", **NOCACHE_NOPROFILING),
             describe(NOCACHE_NOPROFILING)),
        ], [PAGE1]))

    def workers(self) -> None:
        rows = self.measure_ab("workers", [
            ("workers 1", lambda: self.fleet.service("cached", **CACHED), describe(CACHED, 1)),
            ("workers 2", lambda: self.fleet.service("cached-2-workers", workers=2, **CACHED), describe(CACHED, 2)),
        ], [PAGE1])
        for row, label in zip(rows, ("cached", "cached-2-workers"), strict=False):
            child = self.fleet.running.get(label)
            if child is not None and not row.skipped:
                answered = len(api_client.worker_pids(child.base_url))
                self.worker_pids[label] = answered
                row.note = f"{answered} worker pid(s) answered"
        self.rows.extend(rows)

    def mixed(self) -> None:
        child = self.fleet.service("cached", **CACHED)
        calls = MixedCalls(self.fixtures)
        row = Row("mixed", "", describe(CACHED), "80% reads / 20% writes", self.config.connections)
        if self.config.warmup > 0:
            run_mixed(child.base_url, calls, connections=row.connections, seconds=self.config.warmup)
        for _ in range(self.config.repeats):
            before, machine = child.cpu_seconds(), cpu_counters()
            result = run_mixed(child.base_url, calls, connections=row.connections, seconds=self.config.duration)
            row.runs.append(dataclasses.replace(result, server_cpu_s=child.cpu_seconds() - before,
                                                machine_busy_pct=busy_percent(machine, cpu_counters())))
        self.mixed_check = calls.log.verify(self.seeded.url)
        check = self.mixed_check
        row.note = (f"built-in generator; {check['acknowledged_creates']} creates + "
                    f"{check['acknowledged_patches']} patches acknowledged, "
                    + ("all found in the database" if check["verified"]
                       else f"{check['missing']} MISSING, {check['wrong_content']} WRONG in the database"))
        self._print(row)
        self.rows.append(row)


    def tenants(self) -> None:
        """50 tenants on their own data, then one of them alone, same mix (90 % reads)."""
        import asyncio

        from service.bench.database import seed_tenants
        env = {**CACHED, "CACHE_MAX_SIZE": str(CACHE_SIZE)}
        child = self.fleet.service("cached-tenants", **env)
        target = f"{describe(CACHED)}, CACHE_MAX_SIZE {CACHE_SIZE}"
        credentials = asyncio.run(seed_tenants(self.seeded.url, TENANTS, POSTS_EACH))
        everyone = gather_tenants(child.base_url, credentials)
        per_tenant = None
        for variant, group in ((f"{TENANTS} tenants", everyone), ("1 tenant", everyone[:1])):
            calls = TenantCalls(group)
            # The 50 tenants run flat out, by wrk when the bench has it (tenants.lua: the
            # built-in generator took about a fifth of the CPU the run used); the lone
            # tenant on one connection, paced at the rate each of the 50 had, which only the
            # built-in generator can do.
            wrk = self.generator if per_tenant is None and isinstance(self.generator, WrkGenerator) else None
            connections = self.config.connections if per_tenant is None else 1
            row = Row("tenants", variant, target, "90% reads / 10% writes", connections)
            if self.config.warmup > 0:
                run_tenants(child.base_url, calls, connections=connections, seconds=self.config.warmup,
                            rate=per_tenant, wrk=wrk)
            rates = row.hit_rates
            for _ in range(self.config.repeats):
                calls.tally = type(calls.tally)()
                before, machine = child.cpu_seconds(), cpu_counters()
                # Paced, the lone tenant makes few calls: three times as long a run for a steadier rate.
                result = run_tenants(child.base_url, calls, connections=connections,
                                     seconds=self.config.duration * (1 if per_tenant is None else 3),
                                     rate=per_tenant, wrk=wrk)
                row.runs.append(dataclasses.replace(result, server_cpu_s=child.cpu_seconds() - before,
                                                    machine_busy_pct=busy_percent(machine, cpu_counters())))
                rates.append(calls.tally.hit_rate)
                say(f"{row.label:<36} hit rate by read: {calls.tally.kind_hit_rates()}")
            shown = " / ".join("n/a" if r is None else f"{r:.1f} %" for r in rates)
            driver = "built-in generator" if wrk is None else f"{wrk.name} with tenants.lua"
            row.note = (f"{driver}; {POSTS_EACH} posts each; cache hit rate of reads {shown}; "
                        f"{calls.tally.rejected_writes} writes rejected"
                        + ("" if per_tenant is None else f"; paced at {per_tenant:.1f} req/s, as each of the 50"))
            if per_tenant is None:
                per_tenant = max(1.0, (row.mean("rps") or TENANTS) / TENANTS)
            say(f"{row.label:<36} hit rate {shown}")
            self._print(row)
            self.rows.append(row)


def _first_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    head = lines[0] if lines else "failed"
    return head + (f" ({errors[-1]})" if errors and errors[-1] != head else "")
