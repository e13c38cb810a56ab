"""`python run.py fuzz`: schemathesis over every operation of the OpenAPI document.

A release check (issue 11): a service of its own on a scratch database (the
benchmark's: embedded PostgreSQL in a temporary directory, or `<name>_bench` on
DATABASE_URL's server), an admin's token, then `schemathesis run` with the checks
no 5xx, documented status codes, documented content types and response schemas.
POST /api/auth/logout is run last on its own: it revokes the token it is called with.
schemathesis is a test dependency (requirements.txt), imported only here.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@dataclass
class FuzzResult:
    operations: int
    requests: int
    failures: int
    seconds: float
    returncode: int
    output: str


def _login(base: str, email: str, password: str) -> str:
    request = urllib.request.Request(base + "/api/auth/login", method="POST",
                                     data=json.dumps({"email": email, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def _schemathesis(base: str, token: str, max_examples: int, workers: int, seed: int | None,
                  extra: list[str]) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "schemathesis.cli", "run", base + "/api/openapi.json",
            "-H", f"Authorization: Bearer {token}", "--max-examples", str(max_examples),
            "--workers", str(workers), "--checks", CHECKS, "--no-color", "--generation-database", "none",
            "--suppress-health-check", "all", "--request-timeout", "30", *extra]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return subprocess.run(argv, capture_output=True, text=True, cwd=tempfile.gettempdir())


def _figures(output: str) -> tuple[int, int, int]:
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    failures = re.search(r"found (\d+) unique failures", output)
    return (int(tested.group(1)) if tested else 0, int(cases.group(1)) if cases else 0,
            int(failures.group(1)) if failures else 0)


def fuzz(base: str, email: str, password: str, *, max_examples: int = 10, workers: int = 2,
         seed: int | None = None) -> FuzzResult:
    """Fuzz the service at `base` as the admin `email`; every operation is covered."""
    start = time.monotonic()
    main = _schemathesis(base, _login(base, email, password), max_examples, workers, seed,
                         ["--exclude-path", "/api/auth/logout"])
    logout = _schemathesis(base, _login(base, email, password), max_examples, 1, seed,
                           ["--include-path", "/api/auth/logout", "--phases", "examples,coverage,fuzzing"])
    operations, requests, failures = (a + b for a, b in zip(_figures(main.stdout), _figures(logout.stdout), strict=True))
    return FuzzResult(operations, requests, failures, time.monotonic() - start,
                      main.returncode or logout.returncode, main.stdout + main.stderr + logout.stdout + logout.stderr)


def cmd_fuzz(settings, args: argparse.Namespace) -> int:
    from service.bench.database import bench_server, prepare
    from service.bench.processes import service_process

    with tempfile.TemporaryDirectory(prefix="cj-fuzz-") as work, bench_server(settings, Path(work)) as url:
        seeded = __import__("asyncio").run(prepare(url, settings, posts=200))
        env = {**{k: v for k, v in os.environ.items() if k not in ("WORKERS", "PORT", "HOST")},
               "DATABASE_URL": url, "VAR_DIR": str(Path(work) / "var"), "SECRET_KEY": secrets.token_urlsafe(32),
               "LOG_LEVEL": "WARNING", "LOGIN_MAX_FAILURES": "1000000"}
        child = service_process("fuzz", env, Path(work) / "logs").start()
        try:
            result = fuzz(child.base_url, seeded.admin_email, seeded.admin_password,
                          max_examples=args.max_examples, workers=args.workers, seed=args.seed)
        finally:
            child.stop()
    print(result.output if args.verbose or result.returncode else "")
    print(f"fuzz: {result.operations} operations, {result.requests} requests, {result.failures} failures "
          f"in {result.seconds:.0f} s (max {args.max_examples} examples per operation)")
    return 0 if result.returncode == 0 and result.failures == 0 else 1


def add_parser(commands) -> None:
    parser = commands.add_parser("fuzz", help="schemathesis over every operation (release check)",
                                 description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=100, help="per operation (default 100)")
    parser.add_argument("--workers", type=int, default=2, help="concurrent schemathesis workers (default 2)")
    parser.add_argument("--seed", type=int, help="reproduce an earlier run")
    parser.add_argument("--verbose", action="store_true", help="print schemathesis's whole report")
    parser.set_defaults(handler=cmd_fuzz)
