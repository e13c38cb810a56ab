"""wrk as the load generator: a Lua `done` hook prints its summary as one JSON line.

Only loopback URLs are driven; the run is bounded by wrk's own -d and --timeout.
A single path uses wrk's static request (its fastest mode, fair to the ceilings);
several paths rotate through a Lua `request` function.
"""
from __future__ import annotations

import json
import math
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from service.bench.load import LoadResult

DONE_HOOK = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
  if report ~= nil then report() end    -- a script's own tallies (tenants.lua)
end
'''

_ROTATE = '''
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format(nil, paths[i])
end
'''


def lua_script(paths: Sequence[str]) -> str:
    script = DONE_HOOK
    if len(paths) > 1:
        # JSON string literals are valid Lua string literals for ASCII paths.
        script = _ROTATE % ", ".join(json.dumps(p) for p in paths) + script
    return script


def parse_output(stdout: str) -> LoadResult:
    for line in stdout.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line[len("WRKJSON "):])
            return LoadResult(
                requests=data["requests"], seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000.0, p99_ms=data["p99_us"] / 1000.0,
                errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
                non_2xx=data["status"])
    raise RuntimeError("wrk printed no summary:\n" + stdout[-2000:])


class WrkGenerator:
    def __init__(self, path: str = "wrk", threads: int = 1) -> None:
        self.path = path
        self.threads = threads
        self.name = f"wrk ({_version(path)})"

    def run(self, base_url: str, paths: Sequence[str], *, connections: int, seconds: float,
            headers: dict[str, str]) -> LoadResult:
        return parse_output(self.run_script(base_url, lua_script(paths), paths[0], connections=connections,
                                            seconds=seconds, headers=headers))

    def threads_for(self, connections: int) -> int:
        """wrk's -t for this many connections (wrk needs at least one connection per thread)."""
        return min(self.threads, connections)

    def run_script(self, base_url: str, script: str, first_path: str = "/", *, connections: int,
                   seconds: float, headers: dict[str, str] | None = None) -> str:
        """Run wrk with this Lua script (which must end with DONE_HOOK), threads_for(connections)
        threads; its stdout."""
        assert base_url.startswith("http://127.0.0.1:"), "the benchmark only drives loopback"
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(script)
        try:
            duration = max(1, math.ceil(seconds))      # wrk takes whole seconds
            command = [self.path, f"-t{self.threads_for(connections)}", f"-c{connections}", f"-d{duration}s",
                       "--timeout", "5s", "-s", handle.name]
            for name, value in (headers or {}).items():
                command += ["-H", f"{name}: {value}"]
            command.append(base_url + first_path)
            done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30)
        finally:
            Path(handle.name).unlink(missing_ok=True)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return done.stdout


def _version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown version"
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" [")[0].removeprefix("wrk ") if first else "unknown version"
