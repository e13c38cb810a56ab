"""Before and after by checkout: the tenants mix against two revisions of the service, alternated.

`run.py bench --scenario tenants` measures the code it runs from. To compare two
revisions (this change against `main`, or today's code against the code an issue was
filed on), run both in one session, in alternation, on the same machine state:

    python -m service.bench.tenants_ab --before feecfa4                 # against this checkout
    python -m service.bench.tenants_ab --before main --after HEAD --order "A B A B"

Each side is a revision's files (`git archive`; `.`, the default for --after, is this
checkout as it is, uncommitted changes included). For each run the side gets a fresh
database on one PostgreSQL (embedded, or DATABASE_URL's server as `run.py bench` uses
it), migrated and seeded by that side's own code as `run.py bench` seeds (an owner with
--owner-posts posts, then --tenants tenants of --posts-each posts), then its own
`run.py serve` with the bench's tenants settings (cache on, CACHE_MAX_SIZE 1000, one
worker). The mix is this checkout's (service/bench/tenants.py, driven by wrk and
tenants.lua when wrk is installed). A side's code must have the store layer (0132298 or
later: `service.store.seed`, `service.store.users`, `service.bench.database`).

Prints one line per run, then a Markdown table and the ratio of the means (B / A).
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import secrets
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from service.bench.config import BenchConfig
from service.bench.load import LoadResult, choose_generator
from service.bench.load_wrk import WrkGenerator
from service.bench.processes import ROOT, service_process
from service.bench.tenants import CACHE_SIZE, TenantCalls, gather_tenants, run_tenants

# Run in each side's checkout (its own code seeds its own schema); prints the tenants'
# credentials as JSON. Kept to the calls every revision since the store layer has.
SEED_SCRIPT = r'''
import asyncio, json, secrets, sys

async def main(url, owner_posts, tenants, posts_each):
    import service
    from service.auth.passwords import hash_password_async
    from service.bench.database import CLIENTS, OWNER_EMAIL, PROJECTS, _database
    from service.db.migrations import migrate
    from service.store import users
    from service.store.seed import analyze, seed
    password = secrets.token_urlsafe(12)
    password_hash = await hash_password_async(password)
    credentials = []
    async with _database(url) as db:
        await migrate(db)
        # As database.prepare seeds the bench owner, then as database.seed_tenants (which
        # older revisions lack) seeds the tenants.
        owner = await users.insert(db, email=OWNER_EMAIL, password_hash=password_hash,
                                   full_name="Bench Owner", is_admin=False)
        await seed(db, owner_id=owner["id"], clients=CLIENTS, projects=PROJECTS, posts=owner_posts,
                   show_progress=False)
        for n in range(tenants):
            email = f"bench-tenant-{n + 1}@example.com"
            user = await users.insert(db, email=email, password_hash=password_hash, full_name=f"Tenant {n + 1}",
                                      is_admin=False)
            await seed(db, owner_id=user["id"], clients=1, projects=2, posts=posts_each, seed_value=n,
                       show_progress=False)
            credentials.append((email, password))
        await analyze(db)
    print(json.dumps({"credentials": credentials, "code": service.__file__}))

asyncio.run(main(sys.argv[1], *map(int, sys.argv[2:])))
'''


class UnknownRevision(ValueError):
    """--before or --after names nothing git knows."""


@dataclass(frozen=True)
class Side:
    label: str          # "A" (before) or "B" (after)
    ref: str            # what the user named
    root: Path          # its files
    commit: str         # its commit, short ("." with changes, untracked files included: "+changes")


@dataclass(frozen=True)
class Measured:
    side: str
    load: LoadResult            # with server_cpu_s: the service's CPU (user + system) over the run
    hit_rate: float | None
    rejected_writes: int


def checkout(label: str, ref: str, into: Path) -> Side:
    """The files of `ref` in `into` (`.`: this checkout itself)."""
    if ref == ".":
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=normal")
        return Side(label, ref, ROOT, head + ("+changes" if dirty else ""))
    try:
        commit = _git("rev-parse", "--short", "--verify", "--quiet", f"{ref}^{{commit}}")
    except subprocess.CalledProcessError:
        raise UnknownRevision(f"no such git revision: {ref}") from None
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True)
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        # filter="data" (refuse links and paths out of `into`) exists from Python 3.11.4 on.
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return Side(label, ref, into, commit)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


@dataclass(frozen=True)
class Sizes:
    owner_posts: int = 20_000
    tenants: int = 50
    posts_each: int = 400


def seed_side(side: Side, url: str, sizes: Sizes, env: dict[str, str]) -> list[tuple[str, str]]:
    """Migrate and seed with the side's own code; the tenants' credentials."""
    done = subprocess.run([sys.executable, "-c", SEED_SCRIPT, url, str(sizes.owner_posts), str(sizes.tenants),
                           str(sizes.posts_each)], cwd=side.root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"seeding with {side.ref} ({side.commit}) failed:\n{done.stderr[-3000:]}")
    seeded = json.loads(done.stdout.strip().splitlines()[-1])
    code = Path(seeded["code"]).resolve()
    if not code.is_relative_to(side.root.resolve()):
        raise RuntimeError(f"side {side.label} was seeded by {code}, not by the code in {side.root}")
    return [tuple(pair) for pair in seeded["credentials"]]


def measure(side: Side, run: int, admin_url: str, sizes: Sizes, config: BenchConfig, work: Path,
            wrk: WrkGenerator | None) -> Measured:
    """One run of one side: its database, seed, service, warm-up and measurement; all dropped after."""
    from service.bench.cli import service_env
    from service.db.admin import create_database, drop_database, with_database
    # Unique: a run killed before its drop must not stop the next one on the same server.
    name = f"cj_ab_{run}_{side.label.lower()}_{secrets.token_hex(3)}"
    asyncio.run(create_database(admin_url, name))
    try:
        url = with_database(admin_url, name)
        env = {**service_env(url, work / name, config), "CACHE_ENABLED": "true", "PROFILING_ENABLED": "true",
               "CACHE_MAX_SIZE": str(CACHE_SIZE)}
        # Each side imports its own `service` package, whatever the caller's environment says.
        env["PYTHONPATH"] = str(side.root)
        env.pop("PYTHONSAFEPATH", None)
        credentials = seed_side(side, url, sizes, env)
        child = service_process(f"tenants-ab-{run}-{side.label}", env, config.out / "logs", root=side.root)
        try:
            child.start()
            tenants = gather_tenants(child.base_url, credentials)
            if config.warmup > 0:
                run_tenants(child.base_url, TenantCalls(tenants), connections=config.connections,
                            seconds=config.warmup, wrk=wrk)
            calls = TenantCalls(tenants)
            cpu_before = child.cpu_seconds()
            result = run_tenants(child.base_url, calls, connections=config.connections, seconds=config.duration,
                                 wrk=wrk)
            result = dataclasses.replace(result, server_cpu_s=child.cpu_seconds() - cpu_before)
        finally:
            child.stop()
        return Measured(side.label, result, calls.tally.hit_rate, calls.tally.rejected_writes)
    finally:
        asyncio.run(drop_database(admin_url, name))


def _shown(value: float | None, fmt: str, unit: str = "") -> str:
    return "n/a" if value is None else format(value, fmt) + unit


def failures(runs: list[Measured]) -> int:
    """Calls that went wrong in all runs: no answer, a non-2xx answer, a refused write."""
    return sum(m.load.errors + m.load.non_2xx + m.rejected_writes for m in runs)


def report(sides: dict[str, Side], runs: list[Measured], order: list[str]) -> str:
    lines = ["| run | side | revision | req/s | p50 ms | hit rate | server CPU µs/req | errors | non-2xx "
             "| writes rejected |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n, m in enumerate(runs, 1):
        side = sides[m.side]
        load = m.load
        lines.append(f"| {n} | {m.side} | {side.ref} ({side.commit}) | {load.rps:,.0f} | {load.p50_ms:.2f} | "
                     f"{_shown(m.hit_rate, '.1f', ' %')} | {_shown(load.cpu_us_per_request, ',.0f')} | "
                     f"{load.errors} | {load.non_2xx} | {m.rejected_writes} |")
    means = {label: statistics.mean(m.load.rps for m in runs if m.side == label) for label in set(order)}
    lines.append("")
    lines.append("mean req/s: " + ", ".join(f"{label} {means[label]:,.0f}" for label in sorted(means)))
    if means.get("A") and "B" in means:
        lines.append(f"B / A: {means['B'] / means['A']:.2f}x")
    if failures(runs):
        lines.append(f"FAILED CALLS: {failures(runs)} (errors, non-2xx answers, refused writes): the figures "
                     "measure something else")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.bench.tenants_ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="side A: a git revision (branch, tag, commit)")
    parser.add_argument("--after", default=".", help="side B: a git revision, or . for this checkout (default)")
    parser.add_argument("--order", default="B A B A", help='runs in this order (default "B A B A")')
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measurement (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="connections (default 16)")
    parser.add_argument("--tenants", type=int, default=Sizes.tenants, help=f"tenants (default {Sizes.tenants})")
    parser.add_argument("--posts-each", type=int, default=Sizes.posts_each,
                        help=f"posts per tenant (default {Sizes.posts_each})")
    parser.add_argument("--owner-posts", type=int, default=Sizes.owner_posts,
                        help=f"posts of the bench owner beside them (default {Sizes.owner_posts})")
    parser.add_argument("--generator", choices=["auto", "wrk", "builtin"], default="auto")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="logs go to OUT/logs")
    args = parser.parse_args(argv)
    order = args.order.split()
    if not order or set(order) - {"A", "B"}:
        parser.error('--order is a list of A and B, e.g. "B A B A"')
    if (args.tenants < 2 or args.posts_each < 10 or args.owner_posts < 0 or args.duration <= 0
            or args.connections < 1):
        parser.error("need --tenants >= 2, --posts-each >= 10, --owner-posts >= 0, --duration > 0 and "
                     "--connections >= 1")
    try:
        generator = choose_generator(args.generator)
    except RuntimeError as exc:
        parser.error(str(exc))
    wrk = generator if isinstance(generator, WrkGenerator) else None
    if wrk is not None and args.tenants < wrk.threads_for(args.connections):
        parser.error(f"wrk runs {wrk.threads_for(args.connections)} threads here, each driving tenants of its "
                     "own: give at least as many --tenants")
    config = BenchConfig(duration=args.duration, warmup=args.warmup, connections=args.connections, out=args.out,
                         generator=args.generator)
    sizes = Sizes(args.owner_posts, args.tenants, args.posts_each)
    from service.bench.database import bench_server
    from service.settings import load_settings
    with tempfile.TemporaryDirectory(prefix="cj-tenants-ab-") as tmp:
        work = Path(tmp)
        try:
            sides = {"A": checkout("A", args.before, work / "A"), "B": checkout("B", args.after, work / "B")}
        except UnknownRevision as exc:
            parser.error(str(exc))
        for side in sides.values():
            print(f"{side.label}: {side.ref} ({side.commit}) in {side.root}", flush=True)
        with bench_server(load_settings(create_secret=False), work) as admin_url:
            runs = []
            for n, label in enumerate(order, 1):
                runs.append(measure(sides[label], n, admin_url, sizes, config, work, wrk))
                m = runs[-1]
                print(f"run {n} {label}: {m.load.rps:,.0f} req/s, p50 {m.load.p50_ms:.2f} ms, hit rate "
                      f"{_shown(m.hit_rate, '.1f', ' %')}, server CPU "
                      f"{_shown(m.load.cpu_us_per_request, ',.0f', ' µs/req')}", flush=True)
        print()
        print(report(sides, runs, order))
    return 1 if failures(runs) else 0


if __name__ == "__main__":
    sys.exit(main())
