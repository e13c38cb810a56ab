"""`python run.py bench`: options, and the run from database to report."""
from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

from service.bench.config import QUICK, BenchConfig
from service.bench.scenarios import SCENARIOS, say
from service.settings import Settings

JOBS_SCENARIO = "jobs"


def add_parser(commands) -> None:
    bench = commands.add_parser(
        "bench", help="load benchmark: every figure next to a ceiling measured in the same run",
        description="Seed a database of its own (embedded PostgreSQL in a temporary directory, or a "
                    "<name>_bench database on DATABASE_URL's server), start the service as `run.py serve` "
                    "does, and drive it from another process (wrk when installed, else a built-in aiohttp "
                    "generator). Prints Markdown tables; writes results.json and depth.svg to --out.")
    bench.add_argument("--posts", type=int, help="posts to seed (default 100000; --quick 2000)")
    bench.add_argument("--duration", type=float, help="seconds per measurement (default 10; --quick 1)")
    bench.add_argument("--warmup", type=float, help="seconds of load before each scenario (default 2; --quick 0.5)")
    bench.add_argument("--repeat", type=int, default=2, help="measurements per scenario, all shown (default 2)")
    bench.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    bench.add_argument("--scenario", nargs="+", choices=(*SCENARIOS, JOBS_SCENARIO), metavar="NAME", action="extend",
                       help="run only these scenarios (default all): " + ", ".join(SCENARIOS)
                       + f"; `{JOBS_SCENARIO}` (on request only): export rows/s and RSS, pickup latency, jobs/s")
    bench.add_argument("--out", type=Path, default=Path("bench-results"),
                       help="directory for results.json, depth.svg and the children's logs (default ./bench-results)")
    bench.add_argument("--generator", choices=["auto", "wrk", "builtin"], default="auto",
                       help="load generator (default auto: wrk when installed)")
    bench.add_argument("--quick", action="store_true",
                       help="smoke mode: 2,000 posts, 1 s x 2 per scenario; figures are not meaningful")
    bench.set_defaults(handler=cmd_bench)


def config_from(args: argparse.Namespace) -> BenchConfig:
    base = {**(QUICK if args.quick else {})}
    for name in ("posts", "duration", "warmup"):
        if getattr(args, name) is not None:
            base[name] = getattr(args, name)
    config = BenchConfig(repeats=args.repeat, connections=args.connections, out=args.out,
                         scenarios=tuple(args.scenario or SCENARIOS), generator=args.generator, quick=args.quick,
                         **base)
    if config.posts < 100 or config.duration <= 0 or config.repeats < 1 or config.connections < 1:
        raise ValueError("need --posts >= 100, --duration > 0, --repeat >= 1 and --connections >= 1")
    return config


def service_env(database_url: str, work_dir: Path, config: BenchConfig) -> dict[str, str]:
    """The environment of every child: the bench's database, a var dir and a key of its own."""
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("WORKERS", "PORT", "HOST")}
    env.update({
        "DATABASE_URL": database_url, "VAR_DIR": str(work_dir / "var"), "SECRET_KEY": secrets.token_urlsafe(32),
        "LOG_LEVEL": "WARNING", "DB_POOL_SIZE": str(config.db_pool_size),
        "DB_MAX_OVERFLOW": str(config.db_max_overflow), "PYTHONUNBUFFERED": "1",
    })
    return env


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from service.bench.chart import depth_chart
    from service.bench.database import bench_server, prepare
    from service.bench.load import choose_generator
    from service.bench.machine import machine_info
    from service.bench.processes import Fleet
    from service.bench.ratios import headline
    from service.bench.report import markdown, write_json
    from service.bench.scenarios import Runner

    if args.scenario and JOBS_SCENARIO in args.scenario:
        # The job benchmark runs a worker in-process on a database of its own (service/bench/jobs.py).
        from service.bench.jobs import run_jobs_bench
        run_jobs_bench(settings, posts=args.posts or 100_000)
        args.scenario = [name for name in args.scenario if name != JOBS_SCENARIO]
        if not args.scenario:
            return 0
    try:
        config = config_from(args)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    config.out.mkdir(parents=True, exist_ok=True)
    generator = choose_generator(config.generator)
    machine = machine_info(generator.name, postgres_version="?")
    started = time.perf_counter()
    say(f"bench: {config.posts:,} posts, load generator {generator.name}, results in {config.out}")
    with tempfile.TemporaryDirectory(prefix="cj-bench-") as work:
        with bench_server(settings, Path(work)) as url:
            seeded = asyncio.run(prepare(url, settings.replace(db_statement_timeout_ms=0), config.posts))
            machine["postgresql"] = seeded.server_version
            say(f"seeded {seeded.posts:,} posts in {seeded.seed_seconds:.1f} s + analyze {seeded.analyze_seconds:.1f} s")
            fleet = Fleet(service_env(url, Path(work), config), config.out / "logs")
            runner = Runner(config, fleet, seeded, generator)
            try:
                runner.run()
            finally:
                fleet.stop_all()

    seed_total = seeded.seed_seconds + seeded.analyze_seconds
    ratios = headline(runner.rows, runner.sweep, config.posts, seed_total, fleet.peak_rss_mb)
    results = {
        "machine": machine,
        "config": config.as_dict(),
        "seed": {"posts": seeded.posts, "seed_seconds": round(seeded.seed_seconds, 2),
                 "analyze_seconds": round(seeded.analyze_seconds, 2), "postgresql_max_connections": seeded.max_connections},
        "headline": [r.as_dict() for r in ratios],
        "scenarios": [row.as_dict() for row in runner.rows],
        "depth_sweep": [p.as_dict() for p in runner.sweep],
        "mixed_check": runner.mixed_check,
        "worker_pids_answering": runner.worker_pids,
        "peak_rss_mb": {label: {str(pid): round(mb, 1) for pid, mb in peaks.items()}
                        for label, peaks in fleet.peak_rss_mb.items()},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_json(config.out / "results.json", results)
    (config.out / "depth.svg").write_text(depth_chart(
        runner.sweep, f"p50 latency by depth, {config.posts:,} posts (uncached, 1 connection)"))
    print(markdown(results, runner.rows, ratios, runner.sweep), flush=True)
    say(f"wrote {config.out / 'results.json'} and {config.out / 'depth.svg'} in {results['wall_seconds']:.0f} s")
    return 0
