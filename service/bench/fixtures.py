"""What the scenarios request: paths, ids and cursors read from the running service."""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import orjson

from service.bench import api_client
from service.bench.database import SeededDatabase, sample_post_ids

PAGE1 = "/api/posts"
FILTERED = "/api/posts?status=approved&platform=linkedin"
# Searches (docs/API.md section 5): a word in about a third of the seeded posts, one in a
# few hundred ("Post 777." and its neighbours), and one in none.
SEARCHES = {"common": "/api/posts?search=growth", "rare": "/api/posts?search=post%20777",
            "absent": "/api/posts?search=zzyzx"}
PROJECTS = "/api/projects"
CURSOR_DEPTHS = (10, 50, 90)          # percent of the list
SWEEP_PAGES = (1, 5, 6, 50, 500, 5000)
BY_ID_COUNT = 100
PATCH_POOL = 20_000


@dataclass
class Fixtures:
    token: str
    page_size: int
    total_pages: int
    page1_body: bytes                 # the cached page-1 response, served by ceiling-static
    page1_ids: list[str]
    project_ids: list[str]
    post_ids: list[str]               # post-by-id rotates through these
    patch_ids: list[str]              # the mixed scenario patches each of these at most once
    cursors: dict[int, str] = field(default_factory=dict)   # depth % -> cursor just past that depth
    owner_token: str = ""             # the (non-admin) user who owns the seeded data

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def owner_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.owner_token}"}

    @property
    def deep_page(self) -> int:
        """A numbered page past OFFSET_THRESHOLD (page 6 and on), half way down, at most page 500."""
        return max(6, min(500, self.total_pages // 2))

    def by_id_paths(self) -> list[str]:
        return [f"/api/posts/{i}" for i in self.post_ids]

    def cursor_path(self, depth: int) -> str:
        return f"/api/posts?cursor={self.cursors[depth]}"


def page_at(depth_percent: int, total_pages: int) -> int:
    return max(1, min(total_pages - 1, round(total_pages * depth_percent / 100)))


def gather(base_url: str, seeded: SeededDatabase) -> Fixtures:
    token = api_client.login(base_url, seeded.admin_email, seeded.admin_password)
    first = api_client.call(base_url, "GET", PAGE1, token)
    page_size = first["metadata"]["page_size"]
    total_pages = max(1, math.ceil(seeded.posts / page_size))   # exact; metadata.total may be an estimate
    # The second read is the cached answer, when the cache is on: its bytes are the static ceiling's.
    body = api_client.get_bytes(base_url, PAGE1, token)
    projects = api_client.call(base_url, "GET", PROJECTS + "?page_size=100", token)["items"]
    ids = asyncio.run(sample_post_ids(seeded.url, BY_ID_COUNT + PATCH_POOL))
    fixtures = Fixtures(token=token, page_size=page_size, total_pages=total_pages, page1_body=body,
                        page1_ids=[item["id"] for item in orjson.loads(body)["items"]],
                        project_ids=[p["id"] for p in projects], post_ids=ids[:BY_ID_COUNT],
                        patch_ids=ids[BY_ID_COUNT:],
                        owner_token=api_client.login(base_url, seeded.owner_email, seeded.owner_password))
    for depth in CURSOR_DEPTHS:
        page = api_client.call(base_url, "GET", f"{PAGE1}?page={page_at(depth, total_pages)}", token)
        if page["metadata"].get("next_cursor"):
            fixtures.cursors[depth] = page["metadata"]["next_cursor"]
    return fixtures
