"""Synthetic data through COPY: `run.py seed`, the demo data set, and the benchmark.

Rows are generated in Python in chunks and streamed with COPY (asyncpg's
copy_records_to_table), so a million posts load in well under a minute rather
than a million INSERTs. Posts are created in bursts of five sharing one
created_at, as bulk inserts do, so every list exercises the id tie-break.
"""
from __future__ import annotations

import random
import sys
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service.db.database import Database, Session
from service.db.registry import query
from service.schemas.enums import PLATFORMS, PROJECT_STATUSES

CHUNK = 20_000
# From this many posts on, the load drops the posts table's secondary indexes and
# foreign keys, COPYs, and rebuilds them: building an index once is several times
# cheaper than maintaining it row by row (1M posts: ~3.5 min -> well under 1 min).
BULK_LOAD_THRESHOLD = 100_000
POSTS_INDEXES = query("seed/posts_secondary_indexes")
POSTS_FOREIGN_KEYS = query("seed/posts_foreign_keys")
_WORDS = ("growth brand launch audience story customer results team product value insight trust "
          "strategy content reach message offer proof simple clear today learn build share scale "
          "habit focus quality service partner market idea plan goal weekly review lesson win "
          "founder client data signal hiring culture remote pricing demo feedback roadmap").split()
_TEMPLATES = ["Problem Recognition", "Statistic + Insight", "Contrarian Take", "What Changed",
              "Question Post", "Personal Story", "Myth Busting", "Things I Got Wrong",
              "How-To", "Comparison", "What I Learned From", "Inside Look",
              "Future Thinking", "Reader Q Response", "Milestone"]
_PLATFORMS = list(PLATFORMS)
_FLAGS = ["too_long", "missing_cta", "repetitive_opening", "low_readability"]
_PROJECT_STATUSES = list(PROJECT_STATUSES)
_INDUSTRIES = ["Analytics", "Coaching", "Dental", "Fintech", "Logistics", "Marketing", "Nonprofit",
               "Real Estate", "Retail", "SaaS", "Security", "Travel"]


@dataclass
class SeedReport:
    clients: int = 0
    projects: int = 0
    runs: int = 0
    posts: int = 0
    seconds: float = 0.0


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, label: str, total: int, stream=sys.stderr) -> None:
        self.label, self.total, self.stream = label, max(total, 1), stream
        self.enabled = total > 0 and getattr(stream, "isatty", lambda: False)()
        self.start = time.perf_counter()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        fraction = done / self.total
        bar = "#" * int(fraction * 30)
        self.stream.write(f"\r{self.label:<8} [{bar:<30}] {fraction:6.1%} {done:>10,}/{self.total:,} "
                          f"{time.perf_counter() - self.start:6.1f}s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


_TEXTS = 4096   # distinct bodies; each post adds its own number, so every content differs


def _texts(rng: random.Random) -> list[tuple[str, int]]:
    """(body, word count) pairs drawn once: choosing words per post was the load's
    largest Python cost."""
    texts = []
    for _ in range(_TEXTS):
        words = rng.choices(_WORDS, k=rng.randint(12, 40))
        words[0] = words[0].capitalize()
        texts.append((" ".join(words), len(words) + 2))   # + "Post N."
    return texts


async def seed(db: Database, *, owner_id: uuid.UUID, clients: int, projects: int, posts: int,
               seed_value: int = 42, show_progress: bool = True,
               now: datetime | None = None) -> SeedReport:
    """Insert synthetic clients, projects (one run each) and posts owned by owner_id.

    On one connection of `db`; inside a transaction of the caller's when there is one."""
    if clients < 1 and (projects or posts):
        raise ValueError("projects and posts need at least one client")
    if projects < 1 and posts:
        raise ValueError("posts need at least one project")
    async with db.session() as session:
        rng = random.Random(seed_value)
        started = time.perf_counter()
        now = now or datetime.now(UTC)
        report = SeedReport()

        client_ids = [uuid.uuid4() for _ in range(clients)]
        client_rows = []
        for i, client_id in enumerate(client_ids):
            industry = _INDUSTRIES[i % len(_INDUSTRIES)]
            created = now - timedelta(days=400, seconds=-i * 60)
            client_rows.append((client_id, owner_id, f"{industry} Client {i + 1}", f"client{i + 1}@example.com",
                                f"A {industry.lower()} business.", "Busy founders", "Inconsistent marketing",
                                "professional", rng.sample(_PLATFORMS, 2), ["no time"], ["where to start?"],
                                created, created))
        await session.copy_records("clients", client_rows, [
            "id", "owner_id", "name", "email", "business_description", "ideal_customer", "main_problem_solved",
            "tone_preference", "platforms", "customer_pain_points", "customer_questions", "created_at", "updated_at"])
        report.clients = clients

        project_ids = [uuid.uuid4() for _ in range(projects)]
        run_ids = [uuid.uuid4() for _ in range(projects)]
        project_rows, run_rows = [], []
        for i, project_id in enumerate(project_ids):
            created = now - timedelta(days=380, seconds=-i * 60)
            num_posts = 30
            project_rows.append((project_id, owner_id, client_ids[i % clients], f"Project {i + 1}",
                                 _PROJECT_STATUSES[i % len(_PROJECT_STATUSES)], {"Problem Recognition": 2},
                                 num_posts, 40, 0, 40 * num_posts, ["linkedin"], "friendly", created, created))
            run_rows.append((run_ids[i], owner_id, project_id, False, "succeeded", created, created,
                             ["generated"], created, created))
        await session.copy_records("projects", project_rows, [
            "id", "owner_id", "client_id", "name", "status", "template_quantities", "num_posts", "price_per_post",
            "research_price_per_post", "total_price", "platforms", "tone", "created_at", "updated_at"])
        await session.copy_records("runs", run_rows, [
            "id", "owner_id", "project_id", "is_batch", "status", "started_at", "completed_at", "logs",
            "created_at", "updated_at"])
        report.projects = report.runs = projects

        bar = Progress("posts", posts if show_progress else 0)
        span = timedelta(days=365)
        start_time = now - span
        step = span / max(posts, 1)
        columns = ["id", "owner_id", "project_id", "run_id", "content", "template_id", "template_name", "variant",
                   "word_count", "readability_score", "has_cta", "status", "flags", "target_platform",
                   "created_at", "updated_at"]

        texts = _texts(rng)

        async def rows():
            for i in range(posts):
                p = i % projects
                body, words = texts[rng.randrange(_TEXTS)]
                flagged = rng.random() < 0.15
                template = rng.randrange(len(_TEMPLATES))
                # Bursts of five posts share one timestamp, like a bulk insert does.
                created = start_time + step * (i - i % 5)
                yield (uuid.uuid4(), owner_id, project_ids[p], run_ids[p], f"{body}. Post {i}.", str(template + 1),
                       _TEMPLATES[template], i % 3 + 1, words, round(rng.uniform(30, 90), 1),
                       rng.random() < 0.6, "flagged" if flagged else "approved",
                       [rng.choice(_FLAGS)] if flagged else [], _PLATFORMS[i % 4], created, created)
                if i % CHUNK == CHUNK - 1:
                    bar.update(i + 1)

        # One COPY fed by a generator: PostgreSQL ingests while Python makes the next rows.
        if posts >= BULK_LOAD_THRESHOLD:
            async with _posts_without_secondary_structures(session):
                await session.copy_records("posts", rows(), columns)
        elif posts:
            await session.copy_records("posts", rows(), columns)
    bar.update(posts)
    bar.close()
    report.posts = posts
    report.seconds = time.perf_counter() - started
    return report


@asynccontextmanager
async def _posts_without_secondary_structures(session: Session):
    """Inside one transaction: drop the posts table's secondary indexes and foreign keys,
    let the caller load, then build them again. A failure rolls all of it back; the
    table is locked against other writers meanwhile (a seeding tool's trade-off).
    The DDL comes from the catalog (names and definitions PostgreSQL gave us)."""
    async with session.transaction():
        # The COPY and each rebuild are single statements under the session's
        # DB_STATEMENT_TIMEOUT_MS (30 s): at 1,000,000 posts on a loaded machine the COPY
        # alone ran past it and rolled the whole load back. A seeding tool waits instead.
        await session.execute_generated("seed/statement_timeout", "SET LOCAL statement_timeout = 0")
        indexes = await session.fetch(POSTS_INDEXES)
        foreign_keys = await session.fetch(POSTS_FOREIGN_KEYS)
        for fk in foreign_keys:
            await session.execute_generated("seed/drop_constraint", f'ALTER TABLE posts DROP CONSTRAINT "{fk["name"]}"')
        for index in indexes:
            await session.execute_generated("seed/drop_index", f"DROP INDEX {index['name']}")
        yield
        await session.execute_generated("seed/maintenance_work_mem", "SET LOCAL maintenance_work_mem = '256MB'")
        for index in indexes:
            await session.execute_generated("seed/create_index", index["definition"])
        for fk in foreign_keys:
            await session.execute_generated("seed/add_constraint",
                                            f'ALTER TABLE posts ADD CONSTRAINT "{fk["name"]}" {fk["definition"]}')


async def analyze(db: Database) -> None:
    """Fresh statistics and visibility map after a bulk load (index-only scans need the latter)."""
    async with db.session() as session:
        # VACUUM cannot run in a transaction (no SET LOCAL): lifted for these statements only.
        await session.execute_generated("seed/statement_timeout", "SET statement_timeout = 0")
        try:
            for table in ("clients", "projects", "runs", "posts"):
                await session.execute_generated("seed/vacuum_analyze", f"VACUUM (ANALYZE) {table}")
        finally:
            await session.execute_generated("seed/statement_timeout", "RESET statement_timeout")
