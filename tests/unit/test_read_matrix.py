"""The read matrix's verdicts (service/bench/read_matrix.py): the goals of issue 16."""
from __future__ import annotations

import io

from service.bench.read_matrix import Measured, report


def _pair(name, admin_p50, admin_rps, owner_p50, owner_rps, errors=0):
    return [Measured(name, "admin", "/api/posts", admin_p50, admin_rps, 0),
            Measured(name, "owner", "/api/posts", owner_p50, owner_rps, errors)]


def test_verdicts_name_every_missed_goal():
    results = (_pair("fast", 2.0, 600, 2.5, 550) + _pair("slow owner", 2.0, 600, 3.5, 600)
               + _pair("slow page", 12.0, 100, 11.0, 100) + _pair("broken", 1.0, 600, 1.0, 600, errors=3))
    out = io.StringIO()
    found = report(results, cursor_rps=1000, out=out)
    missed = {row["name"]: row["missed"] for row in found["requests"]}
    assert missed["fast"] == []
    assert missed["slow owner"] == ["owner/admin"]
    assert missed["slow page"] == ["admin p50", "owner p50", "admin req/s", "owner req/s"]
    assert missed["broken"] == ["owner errors"]
    assert (found["met"], found["total"]) == (1, 4)
    assert "1 of 4 requests meet every goal" in out.getvalue()
