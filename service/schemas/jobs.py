"""Job bodies (exports, reports) and list filters."""
from __future__ import annotations

from service.schemas.enums import EXPORT_FORMATS, JOB_KINDS, JOB_STATUSES, PLATFORMS, POST_STATUSES
from service.schemas.fields import Field

EXPORT = {
    "format": Field("text", nullable=False, choices=EXPORT_FORMATS),
    "status": Field("text", choices=POST_STATUSES),
    "platform": Field("text", choices=PLATFORMS),
}
REPORT: dict[str, Field] = {}
FILTERS = {
    "status": Field("text", choices=JOB_STATUSES),
    "kind": Field("text", choices=JOB_KINDS),
}
IDEMPOTENCY_KEY_MAX = 128
