"""Run bodies and list filters."""
from __future__ import annotations

from service.schemas.enums import RUN_STATUSES
from service.schemas.fields import Field

CREATE = {
    "is_batch": Field("bool", nullable=False),
    "status": Field("text", nullable=False, choices=RUN_STATUSES),
    "logs": Field("json_list", max_items=1000, max_depth=8, max_bytes=256 * 1024),
    "error_message": Field("text", max_length=10000),
}
PATCH = {
    "status": Field("text", nullable=False, choices=RUN_STATUSES),
    "error_message": Field("text", max_length=10000),
    "logs": Field("json_list", max_items=1000, max_depth=8, max_bytes=256 * 1024),
}
FILTERS = {"project_id": Field("id")}
