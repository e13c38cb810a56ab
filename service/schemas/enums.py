"""Every enumeration of the API, declared once. The SQL CHECK constraints say the
same; tests/integration/test_enums.py proves that they agree."""
from __future__ import annotations

PROJECT_STATUSES = ("draft", "processing", "qa_review", "ready", "delivered")
RUN_STATUSES = ("pending", "running", "succeeded", "failed")
POST_STATUSES = ("approved", "flagged")
PLATFORMS = ("linkedin", "twitter", "facebook", "blog")
JOB_KINDS = ("export", "report", "email", "maintenance")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
JOB_FINISHED = ("succeeded", "failed", "cancelled")
EXPORT_FORMATS = ("csv", "jsonl")

# (table, column) -> the values its CHECK constraint allows
CHECKED_COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("projects", "status"): PROJECT_STATUSES,
    ("runs", "status"): RUN_STATUSES,
    ("posts", "status"): POST_STATUSES,
    ("posts", "target_platform"): PLATFORMS,
    ("jobs", "kind"): JOB_KINDS,
    ("jobs", "status"): JOB_STATUSES,
}
