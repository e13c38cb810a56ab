"""Export a project's posts as CSV or JSONL (docs/API.md section 8).

One transaction: a server-side cursor reads the posts in (created_at, id) order
from the snapshot of its opening (one consistent view, whatever is written
meanwhile), a batch at a time; each batch is encoded and appended to the result,
which is stored in chunks of 1 MiB in the same transaction; the job is marked
succeeded at the end of it. Memory holds one batch and one chunk, whatever the
size of the project. Between batches the task passes a checkpoint (cancellation,
lost lease) and publishes its progress for the next heartbeat.

A batch is bounded by bytes as well as rows (BatchSize): a post runs from a few bytes
to 40 KB (10,000 characters of 4 UTF-8 bytes), and JOBS_EXPORT_BATCH_ROWS (1,000) of
the largest made a 40 MB batch, held at once as records, text and bytes: the worker
grew by 225 MiB for one export of 2,000 such posts.
"""
from __future__ import annotations

import csv
import io

from service.jobs import quota
from service.jobs.queue import ResultWriter
from service.jobs.worker import Job
from service.jsonutil import dumps
from service.store import jobs

# Encoded bytes one batch aims at, and the rows of the first batch, before any was
# measured (50 of the largest posts are 2 MB).
BATCH_BYTES = 2 * 1024 * 1024
FIRST_BATCH_ROWS = 50
CSV_COLUMNS = ("id", "project_id", "run_id", "created_at", "status", "target_platform", "template_name",
               "word_count", "readability_score", "has_cta", "flags", "content")
# A cell starting with one of these would be read as a formula by a spreadsheet.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_JSONL_FIELDS = ("id", "project_id", "run_id", "content", "template_id", "template_name", "variant", "word_count",
                 "readability_score", "has_cta", "status", "flags", "target_platform", "created_at", "updated_at")


def neutralise(cell: str) -> str:
    """Spreadsheet formula injection: a cell that starts like a formula gets a leading '."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        value = ";".join(value)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    return neutralise(str(value))


def csv_rows(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")     # RFC 4180: CRLF, quotes doubled
    for row in rows:
        writer.writerow([_csv_cell(row[name]) for name in CSV_COLUMNS])
    return out.getvalue().encode()


def csv_header() -> bytes:
    return (",".join(CSV_COLUMNS) + "\r\n").encode()


def jsonl_rows(rows) -> bytes:
    return b"".join(dumps({name: row[name] for name in _JSONL_FIELDS}) + b"\n" for row in rows)


class BatchSize:
    """Rows of the next fetch: as many as made about BATCH_BYTES in the last batch, within
    1 and `max_rows` (JOBS_EXPORT_BATCH_ROWS)."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows = min(FIRST_BATCH_ROWS, max_rows)

    def __call__(self) -> int:
        return self.rows

    def measured(self, rows: int, size: int) -> None:
        self.rows = max(1, min(self.max_rows, BATCH_BYTES * rows // max(size, 1)))


async def run(job: Job) -> None:
    fmt = job.params.get("format") or "csv"
    status, platform = job.params.get("status"), job.params.get("platform")
    async with job.db.transaction() as tx:
        job.total = await jobs.export_count(tx, project_id=job.project_id, status=status, platform=platform)
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        room = await quota.result_room(tx, owner_id=job.owner_id, cap=job.settings.jobs_max_result_bytes_per_user,
                                       retention_hours=job.settings.jobs_retention_hours)
        result = ResultWriter(tx, job, content_type, f"project-{job.project_id}-posts.{fmt}", limit=room)
        if fmt == "csv":
            await result.write(csv_header())
        encode = csv_rows if fmt == "csv" else jsonl_rows
        rows = 0
        batch_size = BatchSize(job.settings.jobs_export_batch_rows)
        async for batch in jobs.export_posts(tx, project_id=job.project_id, status=status, platform=platform,
                                             batch_size=batch_size):
            job.checkpoint()
            data = encode(batch)
            batch_size.measured(len(batch), len(data))
            await result.write(data)
            rows += len(batch)
            job.done = rows
        job.checkpoint()
        # The snapshot's count: progress.total was counted just before the cursor opened.
        job.total = rows
        result.rows = rows
        await result.finish()
