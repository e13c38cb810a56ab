"""Probe of the observability surfaces, without a database: the access log's writes."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINES_PER_WORKER = 3000
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[\d+\] service\.access: method=GET "
                  r"route=/api/posts/\{id\} status=200 duration_ms=1\.00 request_id=(w[01])-[0-9a-f]+ user_id=null$")

# One `serve` worker's access log, as the service configures it (stderr, LOG_FORMAT=text).
WORKER = """
import asyncio, sys
from service.context import RequestContext
from service.http.access_log import AccessLog
from service.observability.logs import configure_logging
from service.settings import Settings

configure_logging(Settings())

async def main():
    access = AccessLog(structured=False)
    for i in range(int(sys.argv[2])):
        access(RequestContext(request_id=f"{sys.argv[1]}-{i:x}", endpoint="/api/posts/{id}", method="GET"),
               "GET", 200, 0.001)
    access.flush()

asyncio.run(main())
"""


def test_workers_sharing_a_slow_stderr_pipe_never_splice_access_lines():
    """Before: a batch of up to 256 access lines (~40 KB) went to stderr as one write. With
    `serve --workers N` the workers share stderr; when it is a pipe whose reader lags
    (docker's or journald's, under load), a write over PIPE_BUF is not kept whole, and lines
    of two workers were spliced mid-line: `...,2026-12-07 11:51:13,730 INFO ...`. Here two
    worker processes write to one pipe read slowly; every line must come out whole."""
    read_end, write_end = os.pipe()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, tag, str(LINES_PER_WORKER)], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=write_end)
               for tag in ("w0", "w1")]
    os.close(write_end)
    received = bytearray()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(4096):
            received += chunk
            time.sleep(0.002)      # a lagging reader: the pipe fills and writers block mid-write
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    lines = received.decode().splitlines()
    broken = [line for line in lines if not LINE.match(line)]
    assert not broken, broken[:3]
    assert sorted(LINE.match(line).group(1) for line in lines) == ["w0"] * LINES_PER_WORKER + ["w1"] * LINES_PER_WORKER
