"""The mixed scenario: 80% reads across the benchmarked endpoints, 20% writes, cache on.

Writes are creates and patches, each carrying a unique marker in its content;
every acknowledged write (201 create, 200 patch) is remembered and afterwards
looked up in the database: a write the service acknowledged but lost is a bug,
not a performance figure. Each patch targets a different post, so the last
acknowledged content of a post is unambiguous.
"""
from __future__ import annotations

import asyncio
import itertools
import random
import secrets
from dataclasses import dataclass, field

import orjson

from service.bench.database import post_contents
from service.bench.fixtures import FILTERED, PAGE1, PROJECTS, Fixtures
from service.bench.load import LoadResult
from service.bench.load_builtin import Call, drive

# Out of 100 calls: 80 reads, 20 writes.
MIX = {"page1": 30, "filtered": 10, "projects": 10, "by_id": 15, "deep_cursor": 10, "deep_page": 5,
       "create": 10, "patch": 10}


@dataclass
class WriteLog:
    created: dict[str, str] = field(default_factory=dict)     # id -> content acknowledged
    patched: dict[str, str] = field(default_factory=dict)
    rejected: int = 0                                         # writes answered with a non-2xx

    def verify(self, database_url: str) -> dict:
        expected = {**self.created, **self.patched}
        found = asyncio.run(post_contents(database_url, list(expected))) if expected else {}
        missing = [i for i in expected if i not in found]
        wrong = [i for i in expected if i in found and found[i] != expected[i]]
        return {"acknowledged_creates": len(self.created), "acknowledged_patches": len(self.patched),
                "rejected_writes": self.rejected, "missing": len(missing), "wrong_content": len(wrong),
                "verified": not missing and not wrong}


class MixedCalls:
    """Hands out calls in a fixed shuffled order of MIX; records acknowledged writes."""

    def __init__(self, fixtures: Fixtures, seed: int = 7) -> None:
        self.fixtures = fixtures
        self.log = WriteLog()
        slots = [kind for kind, weight in MIX.items() for _ in range(weight)]
        random.Random(seed).shuffle(slots)
        self._slots = itertools.cycle(slots)
        self._by_id = itertools.cycle(fixtures.by_id_paths())
        self._projects = itertools.cycle(fixtures.project_ids)
        self._patch_targets = iter(fixtures.patch_ids)
        deep = fixtures.cursors.get(90)
        self._reads = {
            "page1": PAGE1, "filtered": FILTERED, "projects": PROJECTS,
            "deep_cursor": fixtures.cursor_path(90) if deep else PAGE1,
            "deep_page": f"{PAGE1}?page={fixtures.deep_page}",
        }

    def __call__(self) -> Call:
        kind = next(self._slots)
        if kind == "by_id":
            return Call("GET", next(self._by_id))
        if kind == "patch":
            target = next(self._patch_targets, None)
            if target is not None:
                content = f"bench patch {secrets.token_hex(8)}"
                return Call("PATCH", f"/api/posts/{target}", {"content": content}, ("patch", target, content))
            kind = "create"        # every seeded target used once: write a new post instead
        if kind == "create":
            content = f"bench create {secrets.token_hex(8)}"
            return Call("POST", PAGE1, {"project_id": next(self._projects), "content": content},
                        ("create", None, content))
        return Call("GET", self._reads[kind])

    def on_response(self, call: Call, status: int, body: bytes, headers=None) -> None:
        if call.tag is None:
            return
        kind, target, content = call.tag
        if kind == "create" and status == 201:
            self.log.created[orjson.loads(body)["id"]] = content
        elif kind == "patch" and status == 200:
            self.log.patched[target] = content
        else:
            self.log.rejected += 1


def run_mixed(base_url: str, calls: MixedCalls, *, connections: int, seconds: float) -> LoadResult:
    """One bounded run; the same MixedCalls across runs keeps one write log and distinct patch targets."""
    return asyncio.run(drive(base_url, calls, connections=connections, seconds=seconds,
                             headers=calls.fixtures.auth, on_response=calls.on_response))
